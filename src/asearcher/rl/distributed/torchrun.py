"""Starting the FSDP2 trainer (rl/distributed/fsdp_trainer.py): process-group set-up, whether a `TrainConfig`
selects it, and torchrun runs where rank 0 drives the other ranks.

Two ways ranks get their work:
  - SPMD (the Ray launcher): each trainer actor is a rank; the launcher calls the same method on every
    actor (`build_fsdp_trainer` in each, then `step(samples)` on all of them, ...).
  - torchrun (`atrain_torchrun`): every rank runs `asearcher train`; rank 0 runs the whole loop (engine,
    executor, orchestrator) with a `RankZeroTrainer`, which broadcasts each PolicyTrainer call to the
    other ranks, where `follow` makes it: the protocol is the PolicyTrainer interface itself.
"""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed.config import FSDPConfig
from asearcher.rl.distributed.fsdp_trainer import FSDPTrainer
from asearcher.rl.interfaces import PolicyTrainer, protocol_methods
from asearcher.rl.run.components import SERVER_LOG, build_components
from asearcher.rl.run.train_loop import TrainLoop
from asearcher.rl.train.model import build_meta_trainer_model, build_trainer_model

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


def build_fsdp_trainer(config: TrainConfig, model_dir: str | Path) -> FSDPTrainer:
    """For one rank (a torchrun rank, or a launcher's trainer worker with RANK / WORLD_SIZE / MASTER_ADDR /
    MASTER_PORT set, one GPU visible or LOCAL_RANK set): join the group, build the trainer's model from
    `model_dir` (rl/train/model.py, float32 master weights) and shard it. Every rank must call this, then
    the same trainer methods in the same order.

    No rank loads the whole model when it can be helped: every rank builds the modules on the meta device,
    and when `model_dir` holds every weight in safetensors (rl/distributed/shard_load.py) each rank reads
    only its own shards from the files. Otherwise (LoRA adapters, whose initial values rank 0 decides, or
    a checkpoint in another format) rank 0 loads the model and broadcasts it to the others' shards."""
    from asearcher.engines.embedded import resolve_model_dir
    from asearcher.rl.distributed.shard_load import can_load_shards

    device = init_distributed(config.fsdp)
    if dist.get_rank() == 0:  # a .gguf is converted to an HF folder once, by rank 0, while the others wait
        resolve_model_dir(model_dir)
    dist.barrier()
    folder = resolve_model_dir(model_dir)
    args = (folder, config.trainer_dtype, config.lora, config.seed)
    model = build_meta_trainer_model(*args, attn_implementation=config.engine.attn_implementation)
    # The same decision on every rank (same config, same files): the two ways are different collectives.
    if can_load_shards(folder, model):
        return FSDPTrainer(model, config.trainer, config.fsdp, device=device, weights_from=folder)
    if dist.get_rank() == 0:
        model = build_trainer_model(*args, sharded=True, attn_implementation=config.engine.attn_implementation)
    return FSDPTrainer(model, config.trainer, config.fsdp, device=device)


# ---- torchrun: rank 0 drives ------------------------------------------------------------------

# What rank 0 forwards to the followers: exactly the PolicyTrainer methods (each a collective).
FORWARDED = protocol_methods(PolicyTrainer)
_STOP = "stop"


class RankZeroTrainer:
    """Rank 0's `PolicyTrainer` under torchrun: each PolicyTrainer method (FORWARDED, set below) broadcasts
    its name and arguments to the other ranks, where `follow` makes the same call, then runs here."""

    def __init__(self, trainer: FSDPTrainer) -> None:
        self.trainer = trainer

    @property
    def version(self) -> int:
        return self.trainer.version

    def _call(self, name: str, *args: Any) -> Any:
        # The arguments go to every rank as they are: the batch of `step` (which each rank needs), and the
        # state and rollout buffer of `save_checkpoint` (which only rank 0 writes; about one batch's size).
        dist.broadcast_object_list([(name, args)], src=0)
        return getattr(self.trainer, name)(*args)

    def stop(self, result: Any = None) -> None:
        """Release the followers: their `follow` returns `result` (None: rank 0 failed)."""
        dist.broadcast_object_list([(_STOP, (result,))], src=0)


def _forwarding(name: str) -> Any:
    def method(self: RankZeroTrainer, *args: Any) -> Any:
        return self._call(name, *args)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"PolicyTrainer.{name} on every rank; rank 0's result."
    return method


for _name in FORWARDED:
    setattr(RankZeroTrainer, _name, _forwarding(_name))


def follow(trainer: FSDPTrainer) -> Any:
    """Ranks > 0 under torchrun: make rank 0's PolicyTrainer calls (RankZeroTrainer) until it says stop;
    returns what rank 0 passed to `stop`."""
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0)
        name, args = box[0]
        logger.debug("rank %d: %s", trainer.rank, name)
        if name == _STOP:
            return args[0]
        if name not in FORWARDED:
            raise RuntimeError(f"unknown trainer call {name!r} from rank 0")
        getattr(trainer, name)(*args)


def is_torchrun_follower(config: TrainConfig) -> bool:
    """This process is a rank > 0 of a torchrun FSDP2 run: it holds shards and follows rank 0."""
    return config.cluster.backend == "local" and int(os.environ.get("RANK", "0")) > 0 and uses_fsdp(config)


async def atrain_torchrun(config: TrainConfig, run_dir: Path, resume: bool = False, progress: bool = True) -> Any:
    """The RL phase of `asearcher train` under torchrun with FSDP2 (rl/launch.atrain calls it on every
    rank; rank 0 first runs the SFT warm start alone). Rank 0 builds the engine, executor and orchestrator
    and runs the TrainLoop with a `RankZeroTrainer`; every rank builds its shards (`build_fsdp_trainer`),
    and the ranks other than 0 follow. Every rank returns rank 0's TrainResult; if rank 0 fails, it raises
    there and the others raise a UserError."""
    init_distributed(config.fsdp)
    failed = UserError("rank 0 stopped the run with an error: see rank 0's output")
    parts, box = None, [("model", config.model)]
    if dist.get_rank() == 0:
        try:
            # Every rank builds its own shards below; a rollout server rank 0 launches logs in the run folder.
            parts = build_components(config, trainer_model=False, server_log=run_dir / SERVER_LOG)
        except BaseException:
            dist.broadcast_object_list([("error", None)], src=0)  # let the others exit, not wait for the timeout
            raise
    dist.broadcast_object_list(box, src=0)  # rank 0's model (after its SFT stage), or its failure
    if box[0][0] == "error":
        raise failed
    from asearcher.engines.embedded import embedded_model_path

    sharded = build_fsdp_trainer(config, box[0][1] or embedded_model_path())
    if dist.get_rank() != 0:
        result = follow(sharded)
        if result is None:
            raise failed
        return result
    assert parts is not None
    trainer = RankZeroTrainer(sharded)
    result = None
    try:
        result = await TrainLoop(config, parts, run_dir, progress, trainer=trainer).arun(resume=resume)
        return result
    finally:
        trainer.stop(result)
        for close in parts.closers:
            await close()
