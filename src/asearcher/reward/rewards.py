"""Reward functions for RL and scores for evaluation: plain functions returning a float, or None to skip.

ASearcher's base-model reward is answer F1 times format validity; its reasoning-model (QwQ) runs
use an LLM judge. Each function accepts either a `Trajectory` (answer and format read from it) or a
bare prediction string with an explicit `format_ok`.
"""

from __future__ import annotations

from typing import Literal

from asearcher.api.trajectory import Trajectory
from asearcher.reward.judge import LLMJudge
from asearcher.reward.qa_metrics import F1Mode, exact_match, f1_score

InvalidPolicy = Literal["score", "skip", "penalty"]


def _pred_and_format(traj_or_pred: Trajectory | str | None, format_ok: bool | None) -> tuple[str | None, bool]:
    if isinstance(traj_or_pred, Trajectory):
        return traj_or_pred.answer, traj_or_pred.format_ok if format_ok is None else format_ok
    return traj_or_pred, True if format_ok is None else format_ok


def f1_format_reward(
    traj_or_pred: Trajectory | str | None,
    golds: list[str],
    format_ok: bool | None = None,
    *,
    f1_mode: F1Mode = "set",
) -> float:
    """F1 of the answer times format validity (ASearcher's reward for base models).

    `format_ok` defaults to the trajectory's own flag (every turn well formed), or True for a string.
    ASearcher's F1 is set-based, hence the default `f1_mode="set"`.

    >>> f1_format_reward("Paris", ["Paris"], format_ok=False)
    0.0
    >>> f1_format_reward("Paris France", ["Paris"])
    0.6666666666666666
    """
    pred, ok = _pred_and_format(traj_or_pred, format_ok)
    return f1_score(pred, golds, f1_mode=f1_mode) if ok else 0.0


def em_reward(traj_or_pred: Trajectory | str | None, golds: list[str], format_ok: bool | None = None) -> float:
    """Exact match times format validity (Search-R1's outcome reward).

    >>> em_reward("The Beatles", ["beatles"])
    1.0
    """
    pred, ok = _pred_and_format(traj_or_pred, format_ok)
    return exact_match(pred, golds) if ok else 0.0


def apply_invalid_policy(reward: float, invalid: bool, policy: InvalidPolicy = "score", penalty: float = -1.0) -> float | None:
    """What to do with an episode whose question was judged invalid (unanswerable or bad gold).

    ASearcher filters its synthetic training data so that ill-posed questions are rare, and drops
    prompts whose whole group has the same reward (no learning signal). Judging a question invalid
    during training is this project's option, not a claim about ASearcher's code:
    "score" keeps the reward unchanged, "skip" returns None (the trainer drops the episode),
    "penalty" returns `penalty`.

    >>> apply_invalid_policy(1.0, True, "skip") is None
    True
    """
    if not invalid or policy == "score":
        return reward
    if policy == "skip":
        return None
    if policy == "penalty":
        return penalty
    raise ValueError(f"invalid-question policy must be score, skip or penalty, got {policy!r}")


async def ajudge_reward(
    judge: LLMJudge,
    traj_or_pred: Trajectory | str | None,
    golds: list[str],
    question: str | None = None,
    format_ok: bool | None = None,
    *,
    invalid_policy: InvalidPolicy = "score",
    invalid_penalty: float = -1.0,
) -> float | None:
    """1.0 / 0.0 from an LLM judge, times format validity; None when the judge reply was unparseable.

    `question` defaults to the trajectory's question. A judge verdict "invalid" scores 0 and then
    goes through `apply_invalid_policy`.
    """
    pred, ok = _pred_and_format(traj_or_pred, format_ok)
    if question is None:
        if not isinstance(traj_or_pred, Trajectory):
            raise ValueError("ajudge_reward needs the question when given a bare prediction")
        question = traj_or_pred.question
    if not ok:
        return 0.0
    v = await judge.ajudge(question, golds, pred)
    if v.verdict is None:
        return None
    return apply_invalid_policy(v.score or 0.0, v.verdict == "invalid", invalid_policy, invalid_penalty)
