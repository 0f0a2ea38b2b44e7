"""Staleness control for fully asynchronous RL: which rollouts may start, and why some are dropped.

The rollout executor asks `StalenessController.can_start()` before launching an episode and reports
every outcome back; the trainer reports the policy version after each weight update. The bound keeps
every trained token at most `max_staleness` (eta) policy versions old.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from asearcher.api.trajectory import Trajectory

logger = logging.getLogger(__name__)


class DropReason(str, Enum):
    """Why a rollout never reached the trainer."""

    TOO_STALE = "too_stale"  # its oldest token is more than eta versions behind the trainer
    FILTERED_ALL_EQUAL = "filtered_all_equal"  # dynamic filtering: its group's rewards were all equal
    CANCELLED = "cancelled"  # aborted from outside (shutdown, resume, executor pause)
    ENGINE_ERROR = "engine_error"  # the model or the world failed it (engine, server, memory: failures.classify)
    TIMEOUT = "timeout"  # the episode ran past rollout.episode_timeout_s (a hung engine or tool)
    AGENT_REJECTED = "agent_rejected"  # the agent loop returned None
    NO_REWARD = "no_reward"  # the reward function returned None (skip)
    NO_TOKENS = "no_tokens"  # the engine reported no token ids / logprobs: cannot be trained


@dataclass(slots=True)
class DroppedRollout:
    """A rollout that was started (or finished) but will not be trained on, with a typed reason.

    Attributes:
        reason: the typed reason.
        qid: question id, "" when unknown.
        detail: a human-readable explanation (exception text, rewards of the group, ...).
        version: policy version at the time it was dropped (-1 when unknown).
        trajectory: the episode when one exists (for logging and debugging); None otherwise.
    """

    reason: DropReason
    qid: str = ""
    detail: str = ""
    version: int = -1
    trajectory: Trajectory | None = None


@dataclass(slots=True)
class StalenessState:
    """Counters of a `StalenessController`; all but `running` are cumulative since step 0."""

    running: int = 0  # started, not yet accepted / rejected
    accepted: int = 0  # finished and accepted into the trainer's buffer (consumed or not)
    rejected: int = 0  # finished or cancelled and dropped: they do not count against the bound
    consumed: int = 0  # taken by the trainer
    version: int = 0  # current policy version
    drops: dict[str, int] = field(default_factory=dict)  # rejected, by DropReason value


class StalenessController:
    """AReaL's admission rule for rollouts.

    A new rollout may start only while both hold::

        running + accepted < (eta + version + 1) * batch_size
        running < max_concurrent

    where `accepted` counts every rollout ever accepted (consumed by the trainer or still buffered),
    `running` the ones in flight, and `version` the current policy version. Rejected (dropped,
    cancelled) rollouts free their slot. Since the trainer consumes `batch_size` rollouts per
    version, a rollout started at version v is among the first (eta + v + 1) batches and so, when
    batches are consumed in start order, is trained at the latest by the update from version
    v + eta. A rollout that runs far longer than its peers can be overtaken and grow staler; the
    consumer checks `is_too_stale` and drops it with `DropReason.TOO_STALE` (the safety net).

    Worked example, batch_size=4, eta=1, max_concurrent=100: at version 0 the bound is
    (1 + 0 + 1) * 4 = 8, so 8 rollouts start. When 4 finish (accepted=4, running=4), the trainer
    takes them and publishes version 1: the bound becomes (1 + 1 + 1) * 4 = 12 and running +
    accepted = 8, so 4 more may start. They are rollouts 9..12, i.e. the third batch, trained by
    the update from version 2 at the latest: lag 2 - 1 = 1 = eta.
    With eta=0 the bound is (version + 1) * batch_size: exactly one batch per version, i.e.
    synchronous RL (a rejected rollout is replaced, never added).

    The controller only counts; it never blocks. Call `on_version` when the weights change.
    `state_dict()` goes into checkpoints: resuming with counters reset to zero would let (eta + version + 1) * batch_size rollouts start at once (a known AReaL failure).
    """

    def __init__(self, batch_size: int, max_staleness: int, max_concurrent: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_staleness < 0:
            raise ValueError(f"max_staleness must be >= 0, got {max_staleness}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.batch_size = batch_size
        self.max_staleness = max_staleness
        self.max_concurrent = max_concurrent
        self.state = StalenessState()

    @property
    def version(self) -> int:
        """The current policy version (set by `on_version`)."""
        return self.state.version

    def bound(self) -> int:
        """Maximum of running + accepted allowed at the current version."""
        return (self.max_staleness + self.version + 1) * self.batch_size

    def capacity(self) -> int:
        """How many rollouts may start now (0 when none)."""
        s = self.state
        by_staleness = self.bound() - (s.running + s.accepted)
        by_concurrency = self.max_concurrent - s.running
        return max(0, min(by_staleness, by_concurrency))

    def can_start(self) -> bool:
        """True when one more rollout may start now."""
        return self.capacity() > 0

    def on_start(self) -> None:
        """A rollout started. Raises if the bound did not allow it (an executor bug)."""
        if not self.can_start():
            raise RuntimeError(f"rollout started beyond the staleness bound: {self.state}, bound {self.bound()}")
        self.state.running += 1

    def on_accept(self) -> None:
        """A running rollout finished and goes to the trainer's buffer."""
        self._finish()
        self.state.accepted += 1

    def on_reject(self, reason: DropReason) -> None:
        """A running rollout was dropped or cancelled; its slot is freed."""
        self._finish()
        self.state.rejected += 1
        self.state.drops[reason.value] = self.state.drops.get(reason.value, 0) + 1

    def on_unaccept(self, reason: DropReason, n: int = 1) -> None:
        """`n` already-accepted rollouts were dropped later (group filtering, too stale at consumption).

        They free their slots like a rejection does.
        """
        if n > self.state.accepted - self.state.consumed:
            raise RuntimeError(f"cannot drop {n} accepted rollouts: only {self.state.accepted - self.state.consumed} buffered")
        self.state.accepted -= n
        self.state.rejected += n
        self.state.drops[reason.value] = self.state.drops.get(reason.value, 0) + n

    def on_consume(self, n: int) -> None:
        """The trainer took `n` accepted rollouts from the buffer."""
        if self.state.consumed + n > self.state.accepted:
            raise RuntimeError(f"trainer consumed {self.state.consumed + n} rollouts but only {self.state.accepted} were accepted")
        self.state.consumed += n

    def on_version(self, version: int) -> None:
        """The policy version changed (weights were updated and synced)."""
        if version < self.state.version:
            raise ValueError(f"policy version went backwards: {self.state.version} -> {version}")
        self.state.version = version

    def _finish(self) -> None:
        if self.state.running <= 0:
            raise RuntimeError("a rollout finished but none was running")
        self.state.running -= 1

    def state_dict(self) -> dict[str, Any]:
        """Counters for a checkpoint (in-flight rollouts are not saved: they are lost on resume)."""
        s = self.state
        return {
            "batch_size": self.batch_size,
            "max_staleness": self.max_staleness,
            "accepted": s.accepted,
            "rejected": s.rejected + s.running,
            "consumed": s.consumed,
            "version": s.version,
            "drops": dict(s.drops),
        }

    def load_state_dict(self, state: dict[str, Any], buffered: int = 0) -> None:
        """Restore counters from `state_dict()`.

        `buffered` is how many accepted-but-unconsumed trajectories the checkpoint restored into the
        trainer's buffer; the others are lost and their slots are freed (they will be regenerated).
        In-flight rollouts at save time are counted as cancelled.
        """
        if state["batch_size"] != self.batch_size:
            # The bound scales with batch_size; changing it mid-run silently changes staleness.
            raise ValueError(f"checkpoint batch_size {state['batch_size']} != configured {self.batch_size}")
        consumed = int(state["consumed"])
        kept = int(state["accepted"]) - consumed
        if not 0 <= buffered <= kept:
            raise ValueError(f"buffered={buffered} but the checkpoint had {kept} accepted-unconsumed rollouts")
        lost = kept - buffered
        drops = dict(state.get("drops", {}))
        if lost:
            drops[DropReason.CANCELLED.value] = drops.get(DropReason.CANCELLED.value, 0) + lost
        self.state = StalenessState(
            running=0,
            accepted=consumed + buffered,
            rejected=int(state["rejected"]) + lost,
            consumed=consumed,
            version=int(state["version"]),
            drops=drops,
        )
        logger.info("staleness state restored: %s (bound %d)", self.state, self.bound())


def trajectory_min_version(traj: Trajectory) -> int | None:
    """Oldest policy version among the trajectory's sampled tokens; None when it has none."""
    versions = [v for seg in traj.segments for v, m in zip(seg.versions, seg.loss_mask, strict=True) if m]
    return min(versions) if versions else None


def is_too_stale(traj: Trajectory, trainer_version: int, max_staleness: int) -> bool:
    """True when some sampled token is more than `max_staleness` versions behind `trainer_version`."""
    oldest = trajectory_min_version(traj)
    return oldest is not None and trainer_version - oldest > max_staleness


def check_staleness(batch: Iterable[Trajectory], trainer_version: int, max_staleness: int) -> None:
    """Raise AssertionError naming the offending trajectory if any trained token is too stale.

    `trainer_version` is the version of the weights being updated by this batch.
    """
    for traj in batch:
        oldest = trajectory_min_version(traj)
        if oldest is not None and trainer_version - oldest > max_staleness:
            raise AssertionError(
                f"trajectory {traj.qid!r} has a token of version {oldest}, "
                f"{trainer_version - oldest} versions behind the trainer (max_staleness={max_staleness})"
            )
