"""The rollout actor's view of the other actors, behind the local mode's interfaces.

- `RayEngineClient`: an `InferenceEngine` (and updatable engine) whose calls go to an EngineWorker actor;
  several of them sit behind `engines.router.RoutedEngine` (per-trajectory affinity, failover).
- `RemoteTrainer`: a `PolicyTrainer` whose `step` runs in the TrainerWorker actor, or in all the
  FSDPTrainerWorker ranks at once (their calls are collectives); rank 0 answers.
- `TrainerDiskWeightSync`: `DiskWeightSync` where the trainer actor writes `<run>/weights/v<N>/` and
  each engine actor loads it. Disk, not the object store: the same files serve engines on other nodes
  (a shared run folder) and vLLM servers (which load from a path), and a 7B state dict (15 GB) would
  not fit a capped object store; on GPUs an NCCL broadcast implements the same WeightSync protocol.

Ray is imported lazily: importing this module does not need Ray.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asearcher.api.engine import GenRequest, GenResult
from asearcher.engines.remote import EngineUnavailable
from asearcher.rl.algo.advantages import TrainSample
from asearcher.rl.interfaces import Buffer, Checkpoint, WeightSource
from asearcher.rl.train.weight_sync import DiskWeightSync

if TYPE_CHECKING:
    import torch


def _actor_errors() -> tuple[type[BaseException], ...]:
    from ray.exceptions import ActorUnavailableError, RayActorError

    return (RayActorError, ActorUnavailableError)


def _wait_all(refs: list[Any]) -> list[Any]:
    """The values of `refs` (one call on every trainer rank), blocking this thread (`ray.get` would do the
    same but warns inside an async actor even from a worker thread, where blocking is what we want). The
    first failure is raised as soon as it happens: the other ranks then wait in a collective that will
    never complete, so waiting for them would hang (the launcher kills them)."""
    futures = [r.future() for r in refs]
    done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
    for f in futures:
        if f in done and f.exception() is not None:
            raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]


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

    async def _acall(self, method: str, *args: Any) -> Any:
        """`method` of the actor; a dead actor raises `EngineUnavailable` (a RoutedEngine then tries another)."""
        try:
            return await getattr(self.handle, method).remote(*args)
        except _actor_errors() as e:
            raise EngineUnavailable(f"{self.name}: engine actor unavailable: {e}") from e

    async def agenerate(self, request: GenRequest) -> GenResult:
        return await self._acall("agenerate", request)

    async def aupdate_weights(self, source: str | Path, version: int) -> None:
        """The actor loads `source` (a safetensors path on the shared folder) as `version`."""
        self.version = await self._acall("aupdate_weights", str(source), version)

    async def acontext_length(self) -> int | None:
        """The actor's engine's context window (the training agents' budget is clipped to it)."""
        return await self._acall("acontext_length")

    async def ahealth(self, timeout_s: float = 10.0) -> bool:
        try:
            await asyncio.wait_for(self.handle.ready.remote(), timeout_s)
            return True
        except (TimeoutError, *_actor_errors()):
            return False

    async def aclose(self) -> None:
        """Nothing to release here: the launcher owns the actors (and closes their engines)."""


class RemoteTrainer:
    """`PolicyTrainer` over the trainer actors: one TrainerWorker, or the ranks of the FSDP2 trainer
    (FSDPTrainerWorker, `handles` in rank order). Every call goes to all of them with the same arguments
    (for FSDP2 each is a collective: a rank left out would block the others) and rank 0's answer is used;
    `version` mirrors rank 0's."""

    def __init__(self, handles: list[Any], version: int = 0) -> None:
        if not handles:
            raise ValueError("RemoteTrainer needs at least one trainer actor")
        self.handles = list(handles)
        self.version = version

    def step(self, samples: Sequence[TrainSample]) -> dict[str, float]:
        """Blocking (TrainLoop runs it in a worker thread, so the rollout event loop keeps generating). The
        batch is put in the object store once; every rank takes its share of it."""
        import ray

        batch = ray.put(list(samples)) if len(self.handles) > 1 else list(samples)
        stats, self.version = _wait_all([h.step.remote(batch) for h in self.handles])[0]
        return stats

    def export_weights(self) -> dict[str, torch.Tensor]:
        """Rank 0's weights shipped through Ray (TrainerDiskWeightSync avoids that: the actor writes them)."""
        return _wait_all([h.export_weights.remote() for h in self.handles])[0]

    async def apublish(self, version: int) -> str:
        """The trainer writes the weights of `version` into the run folder; the path (rank 0's answer)."""
        paths = await asyncio.gather(*(h.publish.remote(version) for h in self.handles))
        return paths[0]

    def save_checkpoint(self, run_dir: Path, step: int, state: dict[str, Any], buffer: Buffer, keep_last: int) -> Path:
        # Only rank 0 writes: the other ranks get no state or buffer to ship.
        refs = [h.save_checkpoint.remote(str(run_dir), step, *((state, buffer) if i == 0 else ({}, [])), keep_last)
                for i, h in enumerate(self.handles)]
        return Path(_wait_all(refs)[0])

    def load_checkpoint(self, path: Path) -> Checkpoint:
        ck = _wait_all([h.load_checkpoint.remote(str(path)) for h in self.handles])[0]
        self.version = int(ck.state["version"])
        return ck


class TrainerDiskWeightSync(DiskWeightSync):
    """DiskWeightSync where the trainer actor (rank 0) writes v<version> into this folder itself (its own
    DiskWeightSync on the same path, so old versions are pruned there): the weights never pass through the
    rollout actor. Bound to its `trainer` when built; `aupdate(engine)` is DiskWeightSync's."""

    def __init__(self, folder: str | Path, trainer: RemoteTrainer, keep: int = 1) -> None:
        super().__init__(folder, keep)
        self.trainer = trainer

    async def apublish(self, source: WeightSource, version: int) -> None:
        if source is not self.trainer:
            raise ValueError("TrainerDiskWeightSync publishes the weights of the RemoteTrainer it was built with")
        path = await self.trainer.apublish(version)
        if Path(path) != self.path_of(version):
            raise RuntimeError(f"trainer published {path}, expected {self.path_of(version)}: the "
                               "trainer and rollout actors must see the run folder at the same path")
        self._version = version
