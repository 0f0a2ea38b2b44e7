"""Protocols the asynchronous RL loop is wired from; implementations are added, never these changed.

    rollout executor --(groups of Trajectory)--> PolicyTrainer.step --(weights, version)--> WeightSync
          ^                                                                                      |
          +------------------------------- UpdatableEngine.aupdate_weights <---------------------+

Reference implementations (planned): in-process and on-disk WeightSync, the single-process
`rl.trainer.Trainer`; scale-out ones (NCCL broadcast, FSDP2 trainer, vLLM / SGLang engines) implement
the same Protocols. Nothing here imports torch, so engines and executors stay light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from asearcher.api.engine import InferenceEngine
from asearcher.api.trajectory import Trajectory
from asearcher.rl.algo.advantages import TrainSample


@runtime_checkable
class PolicyTrainer(Protocol):
    """Turns one batch into one policy update; `version` is the number of updates made so far."""

    version: int

    def step(self, samples: Sequence[TrainSample]) -> dict[str, float]:
        """Update the weights on `samples` (one policy version) and return metrics."""
        ...


@runtime_checkable
class WeightSync(Protocol):
    """Carries trainer weights to the inference engines.

    `apublish` is called by the trainer after each step (blocking the trainer only as long as the
    transport needs: a disk save, an NCCL broadcast). `aupdate` is called by the executor for each
    engine: it pauses / interrupts generation, loads the weights and sets `engine.version`.
    Interrupted requests continue under the new weights, so their later tokens carry the new version.
    """

    async def apublish(self, state: Any, version: int) -> None:
        """Make the weights `state` (a state dict or a model handle) available as `version`."""
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
