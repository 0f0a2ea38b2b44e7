"""Rewards: ASearcher's F1 x format (aug_answer weighting, invalid-answer penalty), EM, the judge's invalid policy.

Expected values are worked out by hand from ASearcher's training code (ASearcher/utils/search_tool.py,
ASearcher/train/asearcher.py): score = 0.7 x s(golds) + 0.3 x max(s(aug), s(golds)) when there are
augmented answers; then x format; then -0.5 when told to answer but the answer claims invalidity.
"""

import pytest

from asearcher.api.trajectory import Trajectory, Turn
from asearcher.reward.rewards import apply_invalid_policy, claims_invalid, em_reward, f1_format_reward


def _traj(answer, format_ok=True, **metadata):
    return Trajectory(
        qid="q", question="?", answer=answer, metadata=metadata,
        turns=[Turn(index=0, output="x", action="answer", format_ok=format_ok)],
    )


def test_f1_format_reward_reads_the_trajectory():
    # {paris, france} vs {paris}: P=1/2 R=1 -> 2/3
    assert f1_format_reward(_traj("Paris France"), ["Paris"]) == pytest.approx(2 / 3)
    assert f1_format_reward(_traj("Paris", format_ok=False), ["Paris"]) == 0.0
    assert f1_format_reward(_traj(None), ["Paris"]) == 0.0
    # explicit format_ok overrides the trajectory's flag
    assert f1_format_reward(_traj("Paris", format_ok=False), ["Paris"], format_ok=True) == 1.0


def test_f1_format_reward_metric_choice():
    # asearcher (default): token sets, so the repeat earns nothing extra and costs nothing
    assert f1_format_reward("Paris Paris", ["Paris"]) == 1.0
    # squad multiset: [paris, paris] vs [paris]: common 1, P=1/2 R=1 -> 2/3; squad set -> 1
    assert f1_format_reward("Paris Paris", ["Paris"], metrics="squad") == pytest.approx(2 / 3)
    assert f1_format_reward("Paris Paris", ["Paris"], metrics="squad", f1_mode="set") == 1.0
    # asearcher maps "True" to yes and keeps hyphenated words apart; squad does neither
    assert f1_format_reward("yes", ["True"]) == 1.0
    assert f1_format_reward("yes", ["True"], metrics="squad") == 0.0
    assert f1_format_reward("Coca Cola", ["Coca-Cola"]) == 1.0
    assert f1_format_reward("Coca Cola", ["Coca-Cola"], metrics="squad") == 0.0  # "coca cola" vs "cocacola"
    # Chinese gold: characters {北, 京} vs {北, 京, 市}: P=1 R=2/3 -> 0.8 (squad: one token each, 0)
    assert f1_format_reward("北京", ["北京市"]) == pytest.approx(0.8)
    assert f1_format_reward("北京", ["北京市"], metrics="squad") == 0.0
    with pytest.raises(ValueError):
        f1_format_reward("x", ["x"], metrics="hotpot")


def test_aug_answer_weighting():
    # matches only an augmented answer: 0.7 x 0 + 0.3 x max(1, 0) = 0.3
    assert f1_format_reward("Donau", ["Danube"], aug_golds=["Donau", "Danube River"]) == pytest.approx(0.3)
    # matches the main gold: 0.7 x 1 + 0.3 x max(s_aug, 1) = 1.0
    assert f1_format_reward("Danube", ["Danube"], aug_golds=["Donau"]) == pytest.approx(1.0)
    # partial on both: main {danube, river} vs {danube}: P=1/2 R=1 -> 2/3; aug "the Danube River" keeps
    # its article under ASearcher's F1: {the, danube, river} vs {danube, river}: P=1 R=2/3 -> 0.8
    # -> 0.7 x 2/3 + 0.3 x max(0.8, 2/3) = 0.46667 + 0.24 = 0.70667
    assert f1_format_reward("Danube River", ["Danube"], aug_golds=["the Danube River"]) == pytest.approx(
        0.7 * 2 / 3 + 0.3 * 0.8
    )
    # read from the trajectory's metadata; numbers are str()-ed like ASearcher does; format still multiplies
    assert f1_format_reward(_traj("1999", aug_golds=[1999]), ["2000"]) == pytest.approx(0.3)
    assert f1_format_reward(_traj("1999", format_ok=False, aug_golds=[1999]), ["2000"]) == 0.0
    # empty aug list: no weighting at all
    assert f1_format_reward("Danube", ["Danube"], aug_golds=[]) == 1.0
    # EM with aug: 0.7 x 0 + 0.3 x 1
    assert em_reward("Donau", ["Danube"], aug_golds=["Donau"]) == pytest.approx(0.3)


def test_invalid_answer_penalty_when_told_to_answer():
    assert claims_invalid("the question is invalid.") and claims_invalid("not appropriate")
    assert claims_invalid("Invalid")  # contains "valid"
    assert not claims_invalid("QUESTION") and not claims_invalid(None) and not claims_invalid("Paris")
    # told to find the most likely answer (valid_inst): an "invalid" answer costs -0.5, even badly formatted
    assert f1_format_reward("the question is invalid.", ["Paris"], valid_inst=True) == -0.5
    assert f1_format_reward(_traj("the question is invalid.", format_ok=False, valid_inst=True), ["Paris"]) == -0.5
    # the substring test also catches a correct answer that happens to contain a marker word
    assert f1_format_reward("Valid Point", ["Valid Point"], valid_inst=True) == 1.0  # "Valid" != "valid"
    assert f1_format_reward("invalidation", ["invalidation"], valid_inst=True) == -0.5
    # the prompt allowed "invalid" answers: no penalty, plain F1 (0 here)
    assert f1_format_reward("the question is invalid.", ["Paris"], valid_inst=False) == 0.0
    assert f1_format_reward(_traj("the question is invalid."), ["Paris"]) == 0.0  # not recorded: no penalty
    assert em_reward("invalid question", ["Paris"], valid_inst=True) == -0.5
    assert f1_format_reward(None, ["Paris"], valid_inst=True) == 0.0  # no answer claims nothing


def test_em_reward():
    assert em_reward("the beatles", ["Beatles"]) == 1.0
    assert em_reward("the beatles", ["Beatles"], format_ok=False) == 0.0
    assert em_reward(_traj("Rome"), ["Paris"]) == 0.0
    assert em_reward("no", ["False"]) == 1.0  # ASearcher's reward EM maps False -> no
    assert em_reward("no", ["False"], metrics="squad") == 0.0  # Search-R1's EM does not


def test_invalid_policy():
    assert apply_invalid_policy(0.7, False, "skip") == 0.7
    assert apply_invalid_policy(0.7, True, "score") == 0.7
    assert apply_invalid_policy(0.7, True, "skip") is None
    assert apply_invalid_policy(0.7, True, "penalty", penalty=-0.5) == -0.5
    with pytest.raises(ValueError):
        apply_invalid_policy(0.7, True, "drop")  # type: ignore[arg-type]
