"""Starting the FSDP2 trainer (rl/dist/fsdp_trainer.py): process-group set-up, the trainer a `TrainConfig`
selects, and torchrun runs where rank 0 drives the other ranks.

Two ways ranks get their work:
  - SPMD (the Ray launcher): each trainer actor is a rank; the launcher calls the same method on every
    actor (`build_fsdp_trainer` in each, then `step(samples)` on all of them, ...).
  - torchrun (`atrain_torchrun`): every rank runs `asearcher train`; rank 0 runs the whole loop (engine,
    executor, orchestrator) with a `RankZeroTrainer`, which broadcasts each collective call to the
    other ranks, where `follow` executes it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.dist.fsdp_trainer import FSDPConfig, FSDPTrainer
from asearcher.rl.interfaces import PolicyTrainer, WeightSync
from asearcher.rl.run.train_loop import TrainerCheckpointLoop

logger = logging.getLogger(__name__)

ENV_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def env_world_size() -> int:
    """Processes of this trainer: the initialised group's size, else torchrun's WORLD_SIZE, else 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(fsdp: FSDPConfig | None = None, timeout_s: float = 7200.0) -> torch.device:
    """Join the default process group from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT, LOCAL_RANK; a launcher sets the same); returns this rank's device. nccl on CUDA, gloo on
    CPU unless `fsdp.backend` says otherwise. `timeout_s` bounds every collective: under torchrun the
    other ranks wait in one while rank 0 generates rollouts and evaluates, so it is long."""
    fsdp = fsdp or FSDPConfig()
    use_cuda = torch.cuda.is_available() and fsdp.backend != "gloo"
    device = torch.device("cpu")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", int(os.environ.get("RANK", "0")) % torch.cuda.device_count()))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if dist.is_initialized():
        return device
    missing = [k for k in ENV_VARS if k not in os.environ]
    if missing:
        raise UserError(f"the FSDP2 trainer needs a process group: environment variables {', '.join(missing)} are "
                        "not set (start with `torchrun --nproc-per-node N ...`, or use the Ray launcher)")
    backend = fsdp.backend if fsdp.backend != "auto" else ("nccl" if use_cuda else "gloo")
    if backend == "nccl" and not use_cuda:
        raise UserError("fsdp.backend=nccl needs CUDA GPUs; use fsdp.backend=gloo (or auto) on CPU")
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s),
                            device_id=device if use_cuda else None)
    logger.info("rank %d/%d joined the %s group on %s", dist.get_rank(), dist.get_world_size(), backend, device)
    return device


def uses_fsdp(config: TrainConfig, world_size: int | None = None) -> bool:
    """Whether `config` selects the FSDP2 trainer for a trainer of `world_size` processes (default: this
    process's group or torchrun environment)."""
    n = env_world_size() if world_size is None else world_size
    mode = config.fsdp.mode
    if mode == "off" and n > 1:
        raise UserError(f"fsdp.mode=off but the trainer runs in {n} processes: the single-process trainer cannot "
                        "use them; set fsdp.mode=auto")
    return mode == "on" or (mode == "auto" and n > 1)


def load_trainer_model(config: TrainConfig, model_dir: str | Path) -> torch.nn.Module:
    """The trainer's model for FSDP: float32 master weights on CPU (bfloat16 only if trainer_dtype says so),
    LoRA adapters when enabled (seeded: every rank builds the same ones; rank 0's win anyway)."""
    from asearcher.engines.embedded import load_causal_lm
    from asearcher.rl.train.model import apply_lora

    model, _ = load_causal_lm(model_dir, device="cpu", dtype="float32")
    if config.trainer_dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    if config.lora.enabled:
        torch.manual_seed(config.seed)
        model = apply_lora(model, config.lora)
    return model


def make_policy_trainer(config: TrainConfig, model: torch.nn.Module, world_size: int | None = None) -> PolicyTrainer:
    """The trainer `config` selects here: `FSDPTrainer` (joining the process group) when `uses_fsdp`, else
    the single-process `Trainer`. Under FSDP every rank must call this with the same weights."""
    from asearcher.rl.train.trainer import Trainer

    if not uses_fsdp(config, world_size):
        return Trainer(model, config.trainer)
    device = init_distributed(config.fsdp)
    return FSDPTrainer(model, config.trainer, config.fsdp, device=device)


def build_fsdp_trainer(config: TrainConfig, model_dir: str | Path) -> FSDPTrainer:
    """For a launcher's trainer worker (one per rank, RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set,
    one GPU visible or LOCAL_RANK set): join the group, load `model_dir`, shard it. Every worker must call
    this, then the same trainer methods in the same order."""
    device = init_distributed(config.fsdp)
    return FSDPTrainer(load_trainer_model(config, model_dir), config.trainer, config.fsdp, device=device)


# ---- torchrun: rank 0 drives ------------------------------------------------------------------


def _command(cmd: tuple) -> None:
    dist.broadcast_object_list([cmd], src=0)


class RankZeroTrainer:
    """Rank 0's `PolicyTrainer` under torchrun: every call is broadcast to the other ranks (`follow`), then
    run here. `model` stands for the weights when a WeightSync publishes (see `GatheringWeightSync`)."""

    def __init__(self, trainer: FSDPTrainer) -> None:
        self.trainer = trainer
        self.version = trainer.version

    @property
    def model(self) -> RankZeroTrainer:
        return self

    def step(self, samples: list) -> dict[str, float]:
        # The version travels with the batch: TrainLoop sets `version` when it resumes.
        _command(("step", list(samples), self.version))
        self.trainer.version = self.version
        stats = self.trainer.step(samples)
        self.version = self.trainer.version
        return stats

    def state_dict_for_sync(self) -> dict[str, torch.Tensor]:
        _command(("state_dict_for_sync",))
        return self.trainer.state_dict_for_sync()

    def export_hf(self, folder: str | Path, **kwargs: Any) -> Path:
        _command(("export_hf", str(folder), kwargs))
        return self.trainer.export_hf(folder, **kwargs)

    def save_checkpoint(self, run_dir: Path, step: int, state: dict[str, Any], buffer: list, keep_last: int) -> Path:
        _command(("save_checkpoint", str(run_dir), step))  # only rank 0 writes: the others get no payload
        return self.trainer.save_checkpoint(run_dir, step, state, buffer, keep_last)

    def load_checkpoint(self, path: str | Path) -> tuple[dict[str, Any], list]:
        _command(("load_checkpoint", str(path)))
        state, buffer = self.trainer.load_checkpoint(path)
        self.version = self.trainer.version
        return state, buffer

    def stop(self, result: Any = None) -> None:
        """Release the followers: their `follow` returns `result` (None: rank 0 failed)."""
        _command(("stop", result))


def follow(trainer: FSDPTrainer) -> Any:
    """Ranks > 0 under torchrun: run rank 0's calls (RankZeroTrainer) until it says stop; returns what
    rank 0 passed to `stop`."""
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0)
        cmd = box[0]
        logger.debug("rank %d: %s", trainer.rank, cmd[0])
        if cmd[0] == "stop":
            return cmd[1]
        if cmd[0] == "step":
            trainer.version = cmd[2]
            trainer.step(cmd[1])
        elif cmd[0] == "state_dict_for_sync":
            trainer.state_dict_for_sync()
        elif cmd[0] == "export_hf":
            trainer.export_hf(cmd[1], **cmd[2])
        elif cmd[0] == "save_checkpoint":
            trainer.save_checkpoint(cmd[1], cmd[2], {}, [], 1)
        elif cmd[0] == "load_checkpoint":
            trainer.load_checkpoint(cmd[1])
        else:
            raise RuntimeError(f"unknown trainer command {cmd[0]!r} from rank 0")


class GatheringWeightSync:
    """A WeightSync whose `apublish(rank_zero_trainer, version)` gathers the full weights from the shards
    (a collective the followers join) and publishes that state dict through `inner`."""

    def __init__(self, inner: WeightSync) -> None:
        self.inner = inner

    async def apublish(self, state: Any, version: int) -> None:
        if isinstance(state, RankZeroTrainer):
            state = await asyncio.to_thread(state.state_dict_for_sync)
        await self.inner.apublish(state, version)

    async def aupdate(self, engine: Any) -> int:
        return await self.inner.aupdate(engine)

    def latest_version(self) -> int:
        return self.inner.latest_version()


class TorchrunTrainLoop(TrainerCheckpointLoop):
    """TrainLoop on rank 0 whose checkpoints are written and read through the sharded trainer."""

    trainer: RankZeroTrainer


def is_torchrun_follower(config: TrainConfig) -> bool:
    """This process is a rank > 0 of a torchrun FSDP2 run: it holds shards and follows rank 0."""
    return config.cluster.backend == "local" and int(os.environ.get("RANK", "0")) > 0 and uses_fsdp(config)


async def atrain_torchrun(config: TrainConfig, run_dir: Path, resume: bool = False, progress: bool = True) -> Any:
    """The RL phase of `asearcher train` under torchrun with FSDP2 (rl/train_loop.atrain calls it on every
    rank; rank 0 first runs the SFT warm start alone). Rank 0 builds the engine, executor and orchestrator
    and runs the loop with a `RankZeroTrainer`; the other ranks hold their shards and follow. Every rank
    returns rank 0's TrainResult; if rank 0 fails, it raises there and the others raise a UserError."""
    from asearcher.rl.run.components import build_components
    from asearcher.rl.run.train_loop import make_weight_sync

    device = init_distributed(config.fsdp)
    failed = UserError("rank 0 stopped the run with an error: see rank 0's output")
    parts, box = None, [("model", config.model)]
    if dist.get_rank() == 0:
        try:
            parts = build_components(config)
        except BaseException:
            dist.broadcast_object_list([("error", None)], src=0)  # let the others exit, not wait for the timeout
            raise
    dist.broadcast_object_list(box, src=0)  # rank 0's model (after its SFT stage), or its failure
    if dist.get_rank() != 0:
        if box[0][0] == "error":
            raise failed
        from asearcher.engines.embedded import embedded_model_path

        model = load_trainer_model(config, box[0][1] or embedded_model_path())
        result = follow(FSDPTrainer(model, config.trainer, config.fsdp, device=device))
        if result is None:
            raise failed
        return result
    assert parts is not None
    # Master weights in float32 (build_components' trainer copy is bfloat16 on GPUs with trainer_dtype=auto);
    # FSDP computes in fsdp.param_dtype.
    model = parts.trainer_model if config.trainer_dtype == "bfloat16" else parts.trainer_model.float()
    trainer = RankZeroTrainer(FSDPTrainer(model, config.trainer, config.fsdp, device=device))
    result = None
    try:
        loop = TorchrunTrainLoop(config, parts, run_dir, progress, trainer=trainer,
                                 sync=GatheringWeightSync(make_weight_sync(config, run_dir)))
        result = await loop.arun(resume=resume)
        return result
    finally:
        trainer.stop(result)
        for close in parts.closers:
            await close()
