"""`<run>/trajectories.jsonl`: every trajectory a training step consumed, for the UI's explorer.

One line per trajectory: {"step", "version", "group", "staleness", "trajectory"}, where `version`
is the trainer's policy version the step trained from and `staleness` that version minus the oldest
policy version among the trajectory's sampled tokens (the lag its tokens were trained at; None when
it has no sampled tokens). Lines are flushed per step, so a killed run keeps every finished step (and a torn last line is cut
when the resumed run reopens the file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from asearcher.api.trajectory import Trajectory
from asearcher.tracking.jsonl import open_append


def staleness(traj: Trajectory, version: int) -> int | None:
    """`version` minus the oldest version among sampled tokens, e.g. versions [3, 4] at version 5 -> 2."""
    sampled = [v for s in traj.segments for v, m in zip(s.versions, s.loss_mask, strict=True) if m]
    return version - min(sampled) if sampled else None


class TrajectoryLog:
    """Appends the trajectories of each step to `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = open_append(self.path)

    def write(self, step: int, version: int, groups: Sequence[Sequence[Trajectory]]) -> None:
        """Log the groups trained at `step` from policy `version` (group number = position in the batch)."""
        for g, group in enumerate(groups):
            for traj in group:
                row = {"step": step, "version": version, "group": traj.metadata.get("group", g),
                       "staleness": staleness(traj, version), "trajectory": traj.to_dict()}
                self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
