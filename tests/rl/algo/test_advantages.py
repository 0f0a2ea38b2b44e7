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


def test_asearcher_base_signal_group_mean_then_scale_bias_clip_then_token_whitening():
    """ASearcher's base agent: group-mean baseline, (b - 0.5) x 10 clipped at 20, whitened over tokens.
    Rewards [1, 0]: b = [0.5, -0.5] -> A = [0, -10]. Tokens: 2 of the first trajectory, 1 of the second,
    so a = [0, 0, -10]: mean -10/3, population std sqrt(200/9) = 4.714; whitened [1/sqrt2, 1/sqrt2, -sqrt2]."""
    cfg = AdvantageConfig(baseline="group_mean", token_norm=True, reward_scaling=10.0, reward_bias=-0.5,
                          reward_clip=20.0, eps=0.0)
    samples = compute_advantages([[_traj(1.0, [[0, 1, 1]]), _traj(0.0, [[0, 0, 1]])]], cfg)
    assert [s.advantage for s in samples] == pytest.approx([0.0, -10.0])
    r = math.sqrt(0.5)
    assert samples[0].token_advantages == [pytest.approx([0.0, r, r])]
    assert samples[1].token_advantages == [pytest.approx([0.0, 0.0, -2 * r])]


def test_the_clip_binds_for_a_lone_success_among_sixteen_under_grpo():
    """ASearcher's reasoning agent (grpo, 16 samples) with the same transform: one success among 16 gives
    b = 15/16 / sqrt(15/256) = sqrt(15) = 3.873 -> (3.873 - 0.5) x 10 = 33.7, clipped to 20; the failures
    get b = -1/sqrt(15) = -0.258 -> -7.58."""
    cfg = AdvantageConfig(baseline="grpo", reward_scaling=10.0, reward_bias=-0.5, reward_clip=20.0, eps=0.0)
    samples = compute_advantages([[_traj(1.0, [[1]])] + [_traj(0.0, [[1]]) for _ in range(15)]], cfg)
    assert samples[0].advantage == 20.0
    assert samples[1].advantage == pytest.approx((-1 / math.sqrt(15) - 0.5) * 10)


def test_default_transform_is_the_identity_on_baselined_rewards():
    plain = compute_advantages([[_traj(1.0, [[1]]), _traj(0.0, [[1]]), _traj(0.0, [[1]])]], AdvantageConfig())
    b = group_advantages([1.0, 0.0, 0.0], "grpo")
    assert [s.advantage for s in plain] == b  # exactly: (b + 0) * 1, inside [-20, 20]


def test_bad_transform_values_name_the_key():
    from asearcher.errors import UserError

    for field, value in (("reward_scaling", 0.0), ("reward_clip", -1.0)):
        with pytest.raises(UserError, match=f"advantage.{field}"):
            AdvantageConfig(**{field: value}).validate()
