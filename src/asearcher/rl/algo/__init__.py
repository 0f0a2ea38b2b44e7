"""Pure functions on tensors and trajectories: advantages, the PPO loss, logprobs of packed sequences,
sequence packing, policy-version lag statistics. No asyncio, no processes."""
