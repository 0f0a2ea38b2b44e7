"""Protocols the asynchronous RL loop is wired from; implementations are added, never these changed.

    rollout executor --(groups of Trajectory)--> PolicyTrainer.step --(export_weights, version)--> WeightSync
          ^                                                                                      |
          +------------------------------- UpdatableEngine.aupdate_weights <---------------------+

Implementations: `rl.train.trainer.Trainer` (one process), `rl.distributed.fsdp_trainer.FSDPTrainer` (FSDP2 ranks),
`rl.distributed.torchrun.RankZeroTrainer` and `rl.distributed.ray_clients.RemoteTrainer` (a trainer in other processes);
`rl.train.weight_sync.InProcessWeightSync` / `DiskWeightSync`, `rl.distributed.nccl_sync.NcclWeightSync`,
`rl.distributed.ray_clients.TrainerDiskWeightSync`; `rl.rollout.executor.RolloutExecutor`.
Nothing here imports torch, so engines and executors stay light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from asearcher.api.engine import InferenceEngine
from asearcher.api.trajectory import Trajectory

if TYPE_CHECKING:
    import torch

    from asearcher.rl.algo.advantages import TrainSample

Buffer = list[tuple[int, list[Trajectory]]]  # accepted-but-untrained groups: (group id, trajectories)


@dataclass
class Checkpoint:
    """A loaded checkpoint, besides the weights and optimizer state loaded into the trainer.

    Attributes:
        path: the checkpoint folder (`<run>/checkpoints/step-NNNNNN`).
        state: its state.json: step, policy version, data position, executor state.
        buffer: the rollout buffer saved with it.
    """

    path: Path
    state: dict[str, Any]
    buffer: Buffer


@runtime_checkable
class WeightSource(Protocol):
    """Something whose weights an engine can load."""

    def export_weights(self) -> dict[str, torch.Tensor]:
        """The full weights under the base model's names (LoRA merged), as engines load them. They may be
        views of live parameters, valid until the next update (a WeightSync that keeps them copies them).
        A sharded trainer gathers them (a collective) and returns {} on ranks other than 0."""
        ...


@runtime_checkable
class PolicyTrainer(WeightSource, Protocol):
    """Turns one batch into one policy update; `version` is the number of updates made so far.

    Every method is also a collective for a sharded trainer: all ranks call it in the same order
    (the torchrun follower protocol, rl/distributed/torchrun.py, forwards exactly these methods).
    """

    version: int

    def step(self, samples: Sequence[TrainSample]) -> dict[str, float]:
        """Update the weights on `samples` (one policy version) and return metrics."""
        ...

    def save_checkpoint(self, run_dir: Path, step: int, state: dict[str, Any], buffer: Buffer,
                        keep_last: int) -> Path:
        """Write weights, optimizer and RNG states with `state` and `buffer` as `<run_dir>/checkpoints/
        step-<step>` (atomically; all but the newest `keep_last` deleted); returns the folder."""
        ...

    def load_checkpoint(self, path: Path) -> Checkpoint:
        """Load the weights and optimizer of the checkpoint folder `path`; `version` becomes its version."""
        ...


@runtime_checkable
class WeightSync(Protocol):
    """Carries trainer weights to the inference engines.

    `apublish` is called by the training loop after each step (blocking it only as long as the
    transport needs: a disk save, a copy). `aupdate` is called for each engine: it pauses / interrupts
    generation, loads the weights and sets `engine.version`. Interrupted requests continue under the
    new weights, so their later tokens carry the new version.
    """

    async def apublish(self, source: WeightSource, version: int) -> None:
        """Make the weights of `source` (a trainer) available as `version`."""
        ...

    async def aupdate(self, engine: InferenceEngine) -> int:
        """Load the newest published weights into `engine`; returns the engine's new version."""
        ...

    def latest_version(self) -> int:
        """Newest published version (-1 before the first publish)."""
        ...


@runtime_checkable
class RolloutSource(Protocol):
    """The executor as the trainer sees it: groups of scored trajectories within the staleness bound."""

    async def aget_batch(self, n_groups: int) -> list[list[Trajectory]]:
        """Wait for `n_groups` accepted groups (filtered, rewarded, not too stale) and return them; fewer when
        the data ran out, more when more groups are due for training at this version (rollout.overtaken)."""
        ...

    def on_version(self, version: int) -> None:
        """Tell the executor the trainer produced `version` (updates its StalenessController)."""
        ...


def protocol_methods(protocol: type) -> tuple[str, ...]:
    """The public methods `protocol` declares, its bases' included (e.g. PolicyTrainer's: export_weights,
    load_checkpoint, save_checkpoint, step)."""
    names: set[str] = set()
    for base in protocol.__mro__:
        if getattr(base, "_is_protocol", False) and base is not Protocol:
            names.update(n for n, v in vars(base).items() if callable(v) and not n.startswith("_"))
    return tuple(sorted(names))
