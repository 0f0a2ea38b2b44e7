"""Rewards: F1 x format, EM, the invalid-question option."""

import pytest

from asearcher.api.trajectory import Trajectory, Turn
from asearcher.reward.rewards import apply_invalid_policy, em_reward, f1_format_reward


def _traj(answer, format_ok=True):
    return Trajectory(
        qid="q", question="?", answer=answer, turns=[Turn(index=0, output="x", action="answer", format_ok=format_ok)]
    )


def test_f1_format_reward_reads_the_trajectory():
    assert f1_format_reward(_traj("Paris France"), ["Paris"]) == pytest.approx(2 / 3)
    assert f1_format_reward(_traj("Paris", format_ok=False), ["Paris"]) == 0.0
    assert f1_format_reward(_traj(None), ["Paris"]) == 0.0
    # explicit format_ok overrides the trajectory's flag
    assert f1_format_reward(_traj("Paris", format_ok=False), ["Paris"], format_ok=True) == 1.0
    # default is ASearcher's set-based F1, multiset on request
    assert f1_format_reward("Paris Paris", ["Paris"]) == 1.0
    assert f1_format_reward("Paris Paris", ["Paris"], f1_mode="multiset") == pytest.approx(2 / 3)


def test_em_reward():
    assert em_reward("the beatles", ["Beatles"]) == 1.0
    assert em_reward("the beatles", ["Beatles"], format_ok=False) == 0.0
    assert em_reward(_traj("Rome"), ["Paris"]) == 0.0


def test_invalid_policy():
    assert apply_invalid_policy(0.7, False, "skip") == 0.7
    assert apply_invalid_policy(0.7, True, "score") == 0.7
    assert apply_invalid_policy(0.7, True, "skip") is None
    assert apply_invalid_policy(0.7, True, "penalty", penalty=-0.5) == -0.5
    with pytest.raises(ValueError):
        apply_invalid_policy(0.7, True, "drop")  # type: ignore[arg-type]
