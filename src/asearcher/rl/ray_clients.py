"""The rollout actor's view of the other actors, behind the local mode's interfaces.

- `RayEngineClient`: an `InferenceEngine` (and updatable engine) whose calls go to an EngineWorker actor;
  several of them sit behind `engines.router.RoutedEngine` (per-trajectory affinity, failover).
- `RemoteTrainer`: a `PolicyTrainer` whose `step` runs in the TrainerWorker actor.
- `TrainerDiskWeightSync`: `DiskWeightSync` where the trainer actor writes `<run>/weights/v<N>/` and
  each engine actor loads it. Disk, not the object store: the same files serve engines on other nodes
  (a shared run folder) and vLLM servers (which load from a path), and a 7B state dict (15 GB) would
  not fit a capped object store; on GPUs an NCCL broadcast implements the same WeightSync protocol.
- `RayTrainLoop`: `TrainLoop` whose checkpoints are written by the trainer actor (it holds the
  weights and optimizer); everything else is the local mode's loop.

Ray is imported lazily: importing this module does not need Ray.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from asearcher.api.engine import GenRequest, GenResult
from asearcher.engines.remote import EngineUnavailable
from asearcher.rl.advantages import TrainSample
from asearcher.rl.checkpoint import Checkpoint
from asearcher.rl.train_loop import TrainLoop
from asearcher.rl.weight_sync import WEIGHTS_FILE, DiskWeightSync


def _actor_errors() -> tuple[type[BaseException], ...]:
    from ray.exceptions import ActorUnavailableError, RayActorError

    return (RayActorError, ActorUnavailableError)


def _wait(ref: Any) -> Any:
    """The value of an ObjectRef, blocking this thread. `ray.get` does the same but warns inside an async
    actor even from a worker thread, where blocking is what we want."""
    return ref.future().result()


class RayEngineClient:
    """An engine living in an EngineWorker actor. A dead actor raises `EngineUnavailable`, so a
    RoutedEngine retries the request on another engine."""

    def __init__(self, handle: Any, tokenizer: Any, name: str, version: int = 0) -> None:
        self.handle = handle
        self.tokenizer = tokenizer
        self.name = name
        self.version = version

    def __repr__(self) -> str:
        return f"RayEngineClient({self.name}, version={self.version})"

    async def agenerate(self, request: GenRequest) -> GenResult:
        try:
            return await self.handle.agenerate.remote(request)
        except _actor_errors() as e:
            raise EngineUnavailable(f"{self.name}: engine actor unavailable: {e}") from e

    async def aupdate_weights(self, source: str | Path, version: int) -> None:
        """The actor loads `source` (a safetensors path on the shared folder) as `version`."""
        try:
            self.version = await self.handle.aupdate_weights.remote(str(source), version)
        except _actor_errors() as e:
            raise EngineUnavailable(f"{self.name}: engine actor unavailable: {e}") from e

    async def ahealth(self, timeout_s: float = 10.0) -> bool:
        try:
            await asyncio.wait_for(self.handle.ready.remote(), timeout_s)
            return True
        except (TimeoutError, *_actor_errors()):
            return False

    async def aclose(self) -> None:
        """Nothing to release here: the launcher owns the actors (and closes their engines)."""


class RemoteTrainer:
    """`PolicyTrainer` over a TrainerWorker actor. `version` mirrors the actor's; `model` is the actor handle,
    which stands for the weights when a WeightSync publishes them (see TrainerDiskWeightSync)."""

    def __init__(self, handle: Any, version: int = 0) -> None:
        self.handle = handle
        self.version = version

    @property
    def model(self) -> Any:
        return self.handle

    def step(self, samples: list[TrainSample]) -> dict[str, float]:
        """Blocking (TrainLoop runs it in a worker thread, so the rollout event loop keeps generating)."""
        stats, self.version = _wait(self.handle.step.remote(list(samples)))
        return stats


class TrainerDiskWeightSync(DiskWeightSync):
    """`apublish(trainer_handle, version)`: the trainer actor writes v<version> into this folder (its own
    DiskWeightSync on the same path, so old versions are pruned there); `aupdate(engine)` is DiskWeightSync's."""

    async def apublish(self, state: Any, version: int) -> None:
        path = await state.publish.remote(version)
        if Path(path) != self.path_of(version) / WEIGHTS_FILE:
            raise RuntimeError(f"trainer published {path}, expected {self.path_of(version) / WEIGHTS_FILE}: the "
                               "trainer and rollout actors must see the run folder at the same path")
        self._version = version


class RayTrainLoop(TrainLoop):
    """TrainLoop whose trainer is a `RemoteTrainer`: the trainer actor writes and loads the checkpoints."""

    trainer: RemoteTrainer

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        # Blocks the event loop while the trainer writes, as the local mode's save does (a consistent cut).
        _wait(self.trainer.handle.save_checkpoint.remote(str(self.run_dir), self.step, state, self.executor.buffer,
                                                         self.config.checkpoint.keep_last))

    def _load_checkpoint(self, ckpt_dir: Path) -> Checkpoint:
        state, buffer = _wait(self.trainer.handle.load_checkpoint.remote(str(ckpt_dir)))
        return Checkpoint(Path(ckpt_dir), state, buffer)
