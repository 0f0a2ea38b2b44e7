"""Staleness admission rule: bounds, eta=0 synchronous behaviour, checkpoint resume, lag checks."""

from __future__ import annotations

import random
from collections import deque

import pytest

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.rl.rollout.staleness import DropReason, StalenessController, check_staleness, is_too_stale


def _start_all(c: StalenessController) -> int:
    n = 0
    while c.can_start():
        c.on_start()
        n += 1
    return n


def test_worked_example_from_docstring():
    c = StalenessController(batch_size=4, max_staleness=1, max_concurrent=100)
    assert _start_all(c) == 8  # (1 + 0 + 1) * 4
    for _ in range(4):
        c.on_accept()
    c.on_consume(4)
    c.on_version(1)
    assert c.bound() == 12
    assert _start_all(c) == 4


def test_max_concurrent_limits_running():
    c = StalenessController(batch_size=8, max_staleness=4, max_concurrent=3)
    assert _start_all(c) == 3
    c.on_accept()
    assert c.capacity() == 1


def test_rejected_rollouts_free_their_slot():
    c = StalenessController(batch_size=2, max_staleness=0, max_concurrent=10)
    assert _start_all(c) == 2
    c.on_reject(DropReason.ENGINE_ERROR)
    assert c.can_start()
    c.on_start()
    assert not c.can_start()
    assert c.state.drops == {"engine_error": 1}


def test_on_start_beyond_bound_raises():
    c = StalenessController(batch_size=1, max_staleness=0, max_concurrent=10)
    c.on_start()
    with pytest.raises(RuntimeError):
        c.on_start()


def test_eta_zero_is_synchronous_one_batch_per_version():
    """With eta=0 exactly batch_size rollouts are accepted per version, whatever the rejections."""
    rng = random.Random(0)
    bs = 5
    c = StalenessController(batch_size=bs, max_staleness=0, max_concurrent=100)
    running: list[int] = []  # start versions
    accepted_at: dict[int, int] = {}
    buffer: list[int] = []
    for _ in range(400):
        while c.can_start():
            c.on_start()
            running.append(c.version)
        # Every started rollout is of the current version: nothing runs ahead.
        assert all(v == c.version for v in running)
        i = rng.randrange(len(running))
        v = running.pop(i)
        if rng.random() < 0.3:
            c.on_reject(DropReason.CANCELLED)
        else:
            c.on_accept()
            buffer.append(v)
            accepted_at[v] = accepted_at.get(v, 0) + 1
        if len(buffer) == bs:
            assert all(b == c.version for b in buffer)  # lag 0: on-policy
            c.on_consume(bs)
            buffer.clear()
            c.on_version(c.version + 1)
    done = [v for v in accepted_at if v < c.version]
    assert done and all(accepted_at[v] == bs for v in done)


@pytest.mark.parametrize("eta", [1, 2, 4])
def test_async_lag_bounded_when_consumed_in_start_order(eta):
    """Rollouts finishing in start order (equal lengths) are never more than eta versions stale."""
    bs = 3
    c = StalenessController(batch_size=bs, max_staleness=eta, max_concurrent=100)
    running: deque[int] = deque()
    max_lag = 0
    for _ in range(60):
        while c.can_start():
            c.on_start()
            running.append(c.version)
        batch = []
        for _ in range(bs):
            batch.append(running.popleft())
            c.on_accept()
        c.on_consume(bs)
        max_lag = max(max_lag, max(c.version - v for v in batch))
        c.on_version(c.version + 1)
    assert max_lag == eta  # the bound is reached, never exceeded


def test_resume_keeps_the_bound():
    c = StalenessController(batch_size=4, max_staleness=1, max_concurrent=100)
    for step in range(3):
        _start_all(c)
        for _ in range(4):
            c.on_accept()
        c.on_consume(4)
        c.on_version(step + 1)
    _start_all(c)
    for _ in range(2):
        c.on_accept()  # 2 buffered at save time
    before = c.capacity() + c.state.running  # slots a fresh executor could use after resume
    saved = c.state_dict()

    fresh = StalenessController(batch_size=4, max_staleness=1, max_concurrent=100)
    fresh.load_state_dict(saved, buffered=2)
    assert fresh.version == 3 and fresh.state.consumed == 12 and fresh.state.running == 0
    assert fresh.capacity() == before
    # Counters reset to zero would allow (1 + 3 + 1) * 4 = 20 starts: far more than the bound.
    assert fresh.capacity() < StalenessController(4, 1, 100).bound() + 3 * 4

    lost = StalenessController(batch_size=4, max_staleness=1, max_concurrent=100)
    lost.load_state_dict(saved, buffered=0)  # buffer not restored: its 2 slots free up
    assert lost.capacity() == before + 2
    assert lost.state.drops["cancelled"] >= 2


def test_resume_with_other_batch_size_fails():
    c = StalenessController(batch_size=4, max_staleness=1, max_concurrent=10)
    with pytest.raises(ValueError, match="batch_size"):
        StalenessController(batch_size=8, max_staleness=1, max_concurrent=10).load_state_dict(c.state_dict())


def _traj(versions: list[int], mask: list[int]) -> Trajectory:
    n = len(versions)
    return Trajectory(qid="q", question="", segments=[Segment(list(range(n)), mask, [0.0] * n, versions)])


def test_staleness_check_helpers():
    t = _traj([-1, 3, 5], [0, 1, 1])
    assert not is_too_stale(t, trainer_version=5, max_staleness=2)
    assert is_too_stale(t, trainer_version=6, max_staleness=2)
    assert not is_too_stale(_traj([-1], [0]), trainer_version=100, max_staleness=0)
    check_staleness([t], trainer_version=5, max_staleness=2)
    with pytest.raises(AssertionError, match="3 versions behind"):
        check_staleness([t], trainer_version=6, max_staleness=2)
