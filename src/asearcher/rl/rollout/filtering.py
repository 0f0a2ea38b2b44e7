"""Dynamic filtering (DAPO-style, used by ASearcher): drop groups whose rewards are all equal.

Such groups have zero advantage under a group baseline and teach nothing. Dropping them can starve
the trainer on a small or saturated dataset, so `FilterBudget` bounds how long filtering may go on
without keeping anything.

Contract for the rollout executor:
  1. When a whole group of rollouts is scored, call `filter_groups([group], tol)`; train on the kept
     groups, report each dropped rollout (`StalenessController.on_unaccept(FILTERED_ALL_EQUAL)` if it
     had been accepted) and log the `DroppedRollout` records.
  2. Call `budget.record(kept=...)` once per group. It raises `FilteringStalled` (a UserError: the
     data or reward is the problem, not the code) after `max_consecutive_dropped` all-equal groups in
     a row when `on_exhausted="raise"`; with `on_exhausted="end_epoch"` it returns True instead and the
     executor ends the epoch early (the data loader starts over, which resets the streak).
  3. Call `budget.end_epoch()` at each epoch end: after `max_empty_epochs` consecutive epochs that kept
     no group at all, it raises `FilteringStalled` whatever `on_exhausted` says, so that a caller can
     never loop forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from asearcher.api.trajectory import Trajectory
from asearcher.config import cfg
from asearcher.errors import UserError
from asearcher.rl.rollout.staleness import DroppedRollout, DropReason

logger = logging.getLogger(__name__)


class FilteringStalled(UserError):
    """Dynamic filtering dropped everything for too long: the dataset is too easy or too hard."""


@dataclass
class FilterConfig:
    """Dynamic filtering of all-equal reward groups."""

    enabled: bool = cfg(True, "Drop groups whose rewards are all equal (within tolerance).")
    tolerance: float = cfg(1e-6, "Rewards differing by at most this are equal.")
    max_consecutive_dropped: int = cfg(64, "All-equal groups in a row before the budget is exhausted.")
    on_exhausted: Literal["raise", "end_epoch"] = cfg("raise", "When the streak limit is hit: raise, or end the epoch.")
    max_empty_epochs: int = cfg(2, "Consecutive epochs that keep no group before giving up with an error.")

    def validate(self) -> None:
        if self.tolerance < 0:
            raise UserError(f"filter.tolerance must be >= 0, got {self.tolerance}")
        if self.max_consecutive_dropped < 1:
            raise UserError(f"filter.max_consecutive_dropped must be >= 1, got {self.max_consecutive_dropped}")
        if self.max_empty_epochs < 1:
            raise UserError(f"filter.max_empty_epochs must be >= 1, got {self.max_empty_epochs}")


def all_equal(rewards: Sequence[float | None], tolerance: float = 1e-6) -> bool:
    """True when max - min of the rewards is within `tolerance` (a group of one is all equal)."""
    vals = [float(r) for r in rewards if r is not None]
    if len(vals) != len(rewards):
        raise ValueError("a group holds a trajectory with reward None: drop it (NO_REWARD) before filtering")
    return max(vals) - min(vals) <= tolerance


def filter_groups(
    groups: Sequence[Sequence[Trajectory]], tolerance: float = 1e-6, version: int = -1
) -> tuple[list[list[Trajectory]], list[DroppedRollout]]:
    """Split groups into kept ones and `DroppedRollout`s (FILTERED_ALL_EQUAL) for all-equal groups."""
    kept: list[list[Trajectory]] = []
    dropped: list[DroppedRollout] = []
    for group in groups:
        rewards = [t.reward for t in group]
        if group and not all_equal(rewards, tolerance):
            kept.append(list(group))
            continue
        detail = f"all {len(group)} rewards equal: {rewards[:1]}"
        dropped.extend(DroppedRollout(DropReason.FILTERED_ALL_EQUAL, t.qid, detail, version, t) for t in group)
    return kept, dropped


class FilterBudget:
    """Guards the caller against filtering forever; see the module docstring for the contract."""

    def __init__(self, config: FilterConfig) -> None:
        self.config = config
        self.streak = 0  # all-equal groups in a row
        self.kept_this_epoch = 0
        self.empty_epochs = 0  # consecutive epochs that kept nothing
        self.total_kept = 0
        self.total_dropped = 0

    def record(self, kept: bool) -> bool:
        """Count one group; True means "end the epoch now" (only with on_exhausted="end_epoch")."""
        if kept:
            self.streak = 0
            self.kept_this_epoch += 1
            self.total_kept += 1
            return False
        self.streak += 1
        self.total_dropped += 1
        if self.streak < self.config.max_consecutive_dropped:
            return False
        msg = (f"dynamic filtering dropped {self.streak} groups in a row (all rewards equal; "
               f"filter.max_consecutive_dropped={self.config.max_consecutive_dropped}): the data is too easy or "
               "too hard for the policy; use other data, raise the limit, or set filter.enabled=false")
        if self.config.on_exhausted == "raise":
            raise FilteringStalled(msg)
        logger.warning("%s; ending the epoch early", msg)
        self.streak = 0
        return True

    def end_epoch(self) -> None:
        """Call at each epoch end; raises FilteringStalled after too many epochs with nothing kept."""
        self.empty_epochs = self.empty_epochs + 1 if self.kept_this_epoch == 0 else 0
        self.kept_this_epoch = 0
        self.streak = 0
        if self.empty_epochs >= self.config.max_empty_epochs:
            raise FilteringStalled(
                f"dynamic filtering kept no group in {self.empty_epochs} consecutive epochs "
                f"(filter.max_empty_epochs={self.config.max_empty_epochs}): every group's rewards are equal"
            )

    def state_dict(self) -> dict[str, int]:
        """Counters for a checkpoint."""
        return {"streak": self.streak, "kept_this_epoch": self.kept_this_epoch, "empty_epochs": self.empty_epochs,
                "total_kept": self.total_kept, "total_dropped": self.total_dropped}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore counters from `state_dict()`."""
        for k, v in state.items():
            setattr(self, k, int(v))
