"""Dynamic filtering and its budget."""

from __future__ import annotations

import pytest

from asearcher.api.trajectory import Trajectory
from asearcher.errors import UserError
from asearcher.rl.rollout.filtering import FilterBudget, FilterConfig, FilteringStalled, all_equal, filter_groups
from asearcher.rl.rollout.staleness import DropReason


def _group(*rewards: float) -> list[Trajectory]:
    return [Trajectory(qid=f"q{i}", question="", reward=r) for i, r in enumerate(rewards)]


def test_all_equal_with_tolerance():
    assert all_equal([1.0, 1.0, 1.0])
    assert all_equal([0.5, 0.5 + 1e-9], tolerance=1e-6)
    assert not all_equal([0.5, 0.6], tolerance=0.05)
    assert all_equal([0.5, 0.6], tolerance=0.1)


def test_filter_keeps_mixed_drops_equal_with_reason():
    kept, dropped = filter_groups([_group(1, 0), _group(1, 1, 1), _group(0, 0)], version=7)
    assert [[t.reward for t in g] for g in kept] == [[1, 0]]
    assert len(dropped) == 5
    assert {d.reason for d in dropped} == {DropReason.FILTERED_ALL_EQUAL}
    assert all(d.version == 7 and d.trajectory is not None for d in dropped)


def test_budget_raises_after_streak():
    b = FilterBudget(FilterConfig(max_consecutive_dropped=3))
    assert b.record(False) is False
    assert b.record(True) is False  # a kept group resets the streak
    b.record(False)
    b.record(False)
    with pytest.raises(FilteringStalled, match="max_consecutive_dropped=3"):
        b.record(False)
    assert issubclass(FilteringStalled, UserError)


def test_budget_end_epoch_mode_then_gives_up_after_empty_epochs():
    b = FilterBudget(FilterConfig(max_consecutive_dropped=2, on_exhausted="end_epoch", max_empty_epochs=2))
    assert b.record(False) is False
    assert b.record(False) is True  # end the epoch
    b.end_epoch()  # first empty epoch: allowed
    assert b.record(False) is False
    assert b.record(False) is True
    with pytest.raises(FilteringStalled, match="2 consecutive epochs"):
        b.end_epoch()


def test_small_dataset_loop_terminates():
    """An executor following the contract on an all-solved dataset stops with an error, never spins."""
    b = FilterBudget(FilterConfig(max_consecutive_dropped=5, on_exhausted="end_epoch", max_empty_epochs=3))
    dataset = [_group(1, 1) for _ in range(3)]
    with pytest.raises(FilteringStalled):
        for _epoch in range(1000):
            for g in dataset:
                kept, _ = filter_groups([g])
                if b.record(bool(kept)):
                    break
            b.end_epoch()
    assert _epoch == 2


def test_budget_state_roundtrip():
    b = FilterBudget(FilterConfig())
    b.record(False)
    b.record(True)
    b.record(False)
    c = FilterBudget(FilterConfig())
    c.load_state_dict(b.state_dict())
    assert c.state_dict() == b.state_dict() == {"streak": 1, "kept_this_epoch": 1, "empty_epochs": 0,
                                                "total_kept": 1, "total_dropped": 2}
