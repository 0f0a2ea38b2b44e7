"""The rollout side (asyncio, no torch): staleness control, the rollout executor, dynamic filtering,
the training questions."""
