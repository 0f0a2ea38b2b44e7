"""Advantages against hand-computed values."""

from __future__ import annotations

import math

import pytest

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.rl.algo.advantages import AdvantageConfig, compute_advantages, group_advantages


def _traj(reward: float, masks: list[list[int]]) -> Trajectory:
    segs = [Segment(list(range(len(m))), m, [0.0] * len(m), [0 if x else -1 for x in m]) for m in masks]
    return Trajectory(qid="q", question="", segments=segs, reward=reward)


def test_group_mean_baseline():
    assert group_advantages([1, 0, 0, 1], "group_mean") == [0.5, -0.5, -0.5, 0.5]


def test_grpo_population_and_unbiased_std():
    # rewards [1, 0, 0, 0]: mean .25, population std sqrt(3)/4, unbiased std 1/2
    a = group_advantages([1, 0, 0, 0], "grpo", eps=0.0)
    assert a[0] == pytest.approx(0.75 / (math.sqrt(3) / 4))
    assert a[1] == pytest.approx(-0.25 / (math.sqrt(3) / 4))
    b = group_advantages([1, 0, 0, 0], "grpo", eps=0.0, std_unbiased=True)
    assert b == pytest.approx([1.5, -0.5, -0.5, -0.5])


def test_grpo_all_equal_gives_zero_not_nan():
    assert group_advantages([1, 1, 1], "grpo") == [0.0, 0.0, 0.0]
    assert group_advantages([0.3], "grpo", std_unbiased=True) == [0.0]


def test_none_baseline_is_raw_reward():
    assert group_advantages([2.0, -1.0], "none") == [2.0, -1.0]


def test_broadcast_over_mask_tokens_of_every_segment():
    t1 = _traj(1.0, [[0, 1, 1], [0, 0, 1]])
    t2 = _traj(0.0, [[0, 1]])
    (s1, s2) = compute_advantages([[t1, t2]], AdvantageConfig(baseline="group_mean"))
    assert s1.token_advantages == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.5]]
    assert s2.token_advantages == [[0.0, -0.5]]
    assert s1.advantage == 0.5 and s2.group == 0


def test_global_token_whitening():
    # mask tokens: t1 has 3 tokens of A=.5, t2 has 1 token of A=-.5 -> values [.5,.5,.5,-.5]
    # mean .25, population std sqrt(3)/4 -> .5 -> (0.25)/(sqrt3/4)=1/sqrt3 ; -.5 -> -sqrt3
    t1 = _traj(1.0, [[0, 1, 1], [0, 0, 1]])
    t2 = _traj(0.0, [[0, 1]])
    (s1, s2) = compute_advantages([[t1, t2]], AdvantageConfig(baseline="group_mean", token_norm=True, eps=0.0))
    assert s1.token_advantages[0] == pytest.approx([0.0, 1 / math.sqrt(3), 1 / math.sqrt(3)])
    assert s2.token_advantages[0] == pytest.approx([0.0, -math.sqrt(3)])
    assert s1.advantage == 0.5  # the scalar keeps the pre-whitening value


def test_missing_reward_raises():
    t = _traj(0.0, [[1]])
    t.reward = None
    with pytest.raises(ValueError, match="no reward"):
        compute_advantages([[t]], AdvantageConfig())
