"""The single-process trainer and what it owns: the PPO step, the trainer model, checkpoints, weight
sync to in-process / on-disk engines, the SFT warm start and its scripted expert."""
