"""`atrain`, the library call behind `asearcher train`: the only place that knows whether a run is local,
under torchrun or on Ray. Everything it dispatches to is below it (distributed/, run/); nothing imports it
but the CLI.

    local (default)  run/components.build_components -> run/train_loop.TrainLoop with train/trainer.Trainer
    torchrun + FSDP2 distributed/torchrun.atrain_torchrun (rank 0 runs the same TrainLoop; other ranks follow)
    cluster.backend=ray  distributed/ray_launcher.atrain_ray (the same TrainLoop inside a Ray actor)
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path

from asearcher.config import save_config
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed import torchrun
from asearcher.rl.run.components import SERVER_LOG, TrainComponents, build_components
from asearcher.rl.run.report import write_run_record
from asearcher.rl.run.sft_stage import arun_sft_stage
from asearcher.rl.run.train_loop import TrainLoop, TrainResult

logger = logging.getLogger(__name__)


def new_run_dir(config: TrainConfig) -> Path:
    """<out_dir>/<name>-<timestamp> (a suffix is added if it exists)."""
    base = Path(config.out_dir) / f"{config.name}-{datetime.now():%Y%m%d-%H%M%S}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


async def atrain(config: TrainConfig, run_dir: Path | None = None, resume: bool = False,
                 progress: bool = True, parts: TrainComponents | None = None) -> TrainResult:
    """The library call behind `asearcher train`: with `sft.enabled` the warm start first (rl/run/sft_stage.py),
    then build the components (unless given) and run the RL loop."""
    if parts is None and torchrun.is_torchrun_follower(config):  # torchrun rank > 0: shards only, no run folder
        return await torchrun.atrain_torchrun(config, Path(run_dir or "."), resume, progress)
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        save_config(config, run_dir / "config.yaml")
    write_run_record(config, run_dir, resume)  # the prompt's name and text hash, as eval records them
    logger.info("run folder: %s", run_dir)
    if config.cluster.backend == "slurm":
        raise UserError("cluster.backend=slurm: Slurm runs go through Ray: `sbatch --nodes=N scripts/slurm_ray.sbatch "
                        "RECIPE` starts Ray inside the allocation (`ray start --head` on the first node, `ray start "
                        "--address=HEAD:6379` on the others) and runs the recipe with cluster.backend=ray "
                        "cluster.ray_address=HEAD:6379 (docs/runbook.md)")
    if config.cluster.backend == "ray" and parts is not None:
        raise ValueError("cluster.backend=ray builds its parts inside Ray actors; given parts, use backend=local")
    if config.sft.enabled:
        if parts is not None:
            raise ValueError("sft.enabled: atrain runs the warm start and builds the components from its "
                             "weights; given parts, run the warm start yourself (rl/run/sft_stage.py)")
        # config.yaml keeps the starting model; the RL phase loads the warm-start folder.
        config = dataclasses.replace(config, model=await arun_sft_stage(config, run_dir, progress))
        logger.info("RL starts from the SFT weights in %s", config.model)
    if config.cluster.backend == "ray":
        from asearcher.rl.distributed.ray_launcher import atrain_ray  # imports ray only here: local runs never need it

        return await atrain_ray(config, run_dir, resume=resume, progress=progress)
    if parts is None and config.cluster.backend == "local" and torchrun.uses_fsdp(config):
        return await torchrun.atrain_torchrun(config, run_dir, resume, progress)  # torchrun rank 0
    parts = parts or build_components(config, server_log=run_dir / SERVER_LOG)
    try:
        return await TrainLoop(config, parts, run_dir, progress).arun(resume=resume)
    finally:
        for close in parts.closers:
            await close()
