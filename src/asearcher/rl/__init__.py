"""Fully asynchronous RL (AReaL's design): staleness control, advantages, filtering, decoupled PPO
loss, sequence packing, logprob recomputation and the trainer step. See docs/rl.md."""
