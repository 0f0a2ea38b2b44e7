"""Fully asynchronous RL (AReaL's design), laid out by process boundary; imports flow downwards:

    launch.py     atrain: the only place that knows local / torchrun / Ray
    distributed/  several processes: placement, FSDP2, torchrun, NCCL sync, Ray
    run/          one run in one process: TrainLoop, components, held-out eval, metrics, report
    train/        trainer, trainer model, checkpoints, weight sync, SFT
    rollout/      staleness, executor, filtering, data (beside train/: neither imports the other)
    algo/         advantages, loss, logprobs, packing, version stats (pure functions)

`config.py` (TrainConfig) and `interfaces.py` (PolicyTrainer, WeightSync, RolloutSource) sit beside
them. See docs/rl.md."""
