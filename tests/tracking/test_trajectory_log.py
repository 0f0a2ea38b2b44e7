"""trajectories.jsonl as the training loop would write it, read back by the UI's row summaries."""

from __future__ import annotations

import json

from asearcher.api import Segment, Trajectory
from asearcher.tracking.trajectory_log import TrajectoryLog, staleness
from asearcher.ui.records import summarize


def _traj(versions: list[int], mask: list[int]) -> Trajectory:
    seg = Segment(token_ids=list(range(len(mask))), loss_mask=mask, logprobs=[0.0] * len(mask), versions=versions)
    return Trajectory(qid="q", question="Q?", answer="Paris", segments=[seg], reward=1.0, gold=["Paris"])


def test_staleness_is_version_minus_oldest_sampled_token():
    # by hand: sampled tokens at versions 3 and 4 (the -1 is a prompt token), trainer at 5 -> 5 - 3 = 2
    assert staleness(_traj([-1, 3, 4], [0, 1, 1]), 5) == 2
    assert staleness(_traj([-1, -1], [0, 0]), 5) is None


def test_lines_carry_step_version_group_and_read_back(tmp_path):
    log = TrajectoryLog(tmp_path / "trajectories.jsonl")
    log.write(7, 5, [[_traj([-1, 3, 4], [0, 1, 1])], [_traj([-1, 5], [0, 1])]])
    log.close()
    lines = [json.loads(x) for x in (tmp_path / "trajectories.jsonl").read_text().splitlines()]
    assert [(r["step"], r["version"], r["group"], r["staleness"]) for r in lines] == [(7, 5, 0, 2), (7, 5, 1, 0)]
    row = summarize(lines[0], 0)
    assert row["step"] == 7 and row["staleness"] == 2 and row["correct"] is True and row["sampled_tokens"] == 2
