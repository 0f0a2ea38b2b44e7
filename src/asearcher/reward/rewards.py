"""Reward functions for RL and scores for evaluation: plain functions returning a float, or None to skip.

ASearcher's base-model reward is the answer's F1 times format validity (every turn well formed),
with two refinements from its training code that we reproduce:
- `aug_answer` weighting: when a question has augmented answers, the score is
  0.7 x score(main golds) + 0.3 x max(score(augmented golds), score(main golds)), so matching only
  an augmented answer earns 0.3 of full credit.
- the invalid-question penalty: when the prompt told the model to find the most likely answer (the
  "the question may be invalid" instruction was left out; `valid_inst`), an answer that contains
  "question", "invalid", "appropriate" or "valid" (case-sensitive substrings) scores -0.5,
  whatever its F1 or format.
Its reasoning-model (QwQ) runs use an LLM judge on the final answer alone.

Each function accepts either a `Trajectory` (answer, format, `metadata["aug_golds"]` and
`metadata["valid_inst"]` read from it) or a bare prediction string with explicit arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from asearcher.api.trajectory import Trajectory
from asearcher.reward.judge import LLMJudge
from asearcher.reward.metric_sets import reward_score
from asearcher.reward.qa_metrics import F1Mode

InvalidPolicy = Literal["score", "skip", "penalty"]

AUG_WEIGHT = 0.3  # share of the reward that augmented answers can earn (ASearcher's 0.7 / 0.3 split)
INVALID_ANSWER_PENALTY = -0.5  # ASearcher's reward for claiming "invalid" when told to answer
INVALID_MARKERS = ("question", "invalid", "appropriate", "valid")
AUG_GOLDS_KEY = "aug_golds"  # Trajectory.metadata key: augmented gold answers (list of strings)
VALID_INST_KEY = "valid_inst"  # Trajectory.metadata key: True when told to find the most likely answer


def claims_invalid(answer: str | None) -> bool:
    """True when an answer declares the question invalid, by ASearcher's substring test.

    >>> claims_invalid("the question is invalid."), claims_invalid("Paris"), claims_invalid("Invalid")
    (True, False, True)
    """
    return answer is not None and any(marker in answer for marker in INVALID_MARKERS)


def _pred_and_format(traj_or_pred: Trajectory | str | None, format_ok: bool | None) -> tuple[str | None, bool]:
    if isinstance(traj_or_pred, Trajectory):
        return traj_or_pred.answer, traj_or_pred.format_ok if format_ok is None else format_ok
    return traj_or_pred, True if format_ok is None else format_ok


def _from_metadata(traj_or_pred: Trajectory | str | None, key: str, given: object) -> object:
    if given is not None or not isinstance(traj_or_pred, Trajectory):
        return given
    return traj_or_pred.metadata.get(key)


def _outcome_reward(
    kind: str,
    traj_or_pred: Trajectory | str | None,
    golds: Sequence[str],
    format_ok: bool | None,
    metrics: str,
    f1_mode: F1Mode,
    aug_golds: Sequence[str] | None,
    valid_inst: bool | None,
) -> float:
    pred, ok = _pred_and_format(traj_or_pred, format_ok)
    score = reward_score(pred, golds, kind, metrics, f1_mode)
    aug = _from_metadata(traj_or_pred, AUG_GOLDS_KEY, aug_golds)
    if aug:  # ASearcher str()s every augmented answer; a lone string is one answer
        aug_list = [aug] if isinstance(aug, str) else [str(a) for a in aug]  # type: ignore[attr-defined]
        aug_score = reward_score(pred, aug_list, kind, metrics, f1_mode)
        score = (1 - AUG_WEIGHT) * score + AUG_WEIGHT * max(aug_score, score)
    score = score if ok else 0.0
    if _from_metadata(traj_or_pred, VALID_INST_KEY, valid_inst) and claims_invalid(pred):
        return INVALID_ANSWER_PENALTY  # ASearcher applies it after the format factor: it always wins
    return score


def f1_format_reward(
    traj_or_pred: Trajectory | str | None,
    golds: Sequence[str],
    format_ok: bool | None = None,
    *,
    metrics: str = "asearcher",
    f1_mode: F1Mode = "multiset",
    aug_golds: Sequence[str] | None = None,
    valid_inst: bool | None = None,
) -> float:
    """F1 of the answer times format validity: ASearcher's base-model reward with the defaults.

    `format_ok` defaults to the trajectory's own flag (every turn well formed), or True for a string.
    `metrics="asearcher"` grades with ASearcher's reward F1 (token sets, True/False -> yes/no,
    Chinese character split); `metrics="squad"` with SQuAD's F1 counted as `f1_mode` says.
    `aug_golds` and `valid_inst` default to the trajectory's metadata (module docstring).

    >>> f1_format_reward("Paris", ["Paris"], format_ok=False)
    0.0
    >>> f1_format_reward("Paris France", ["Paris"])
    0.6666666666666666
    >>> f1_format_reward("Donau", ["Danube"], aug_golds=["Donau"])
    0.3
    """
    return _outcome_reward("f1", traj_or_pred, golds, format_ok, metrics, f1_mode, aug_golds, valid_inst)


def em_reward(
    traj_or_pred: Trajectory | str | None,
    golds: Sequence[str],
    format_ok: bool | None = None,
    *,
    metrics: str = "asearcher",
    aug_golds: Sequence[str] | None = None,
    valid_inst: bool | None = None,
) -> float:
    """Exact match times format validity (ASearcher's `reward_type=EM`; Search-R1's EM with "squad").

    >>> em_reward("The Beatles", ["beatles"])
    1.0
    """
    return _outcome_reward("em", traj_or_pred, golds, format_ok, metrics, "multiset", aug_golds, valid_inst)


def apply_invalid_policy(
    reward: float, invalid: bool, policy: InvalidPolicy = "score", penalty: float = -1.0
) -> float | None:
    """What to do with an episode whose question the LLM judge called invalid (unanswerable or bad gold).

    This is this project's option for the judge's "invalid" verdict, not ASearcher's code (its judge
    answers only correct/incorrect): "score" keeps the reward unchanged, "skip" returns None (the
    trainer drops the episode), "penalty" returns `penalty`.

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
    *,
    invalid_policy: InvalidPolicy = "score",
    invalid_penalty: float = -1.0,
) -> float | None:
    """1.0 / 0.0 from an LLM judge of the final answer (ASearcher's reward for reasoning models).

    Only the final answer is judged: malformed earlier turns do not matter (ASearcher's reasoning
    reward has no format factor). A verdict the judge failed to give (unparseable after its retries,
    or the judge unreachable) scores 0, as in ASearcher. An "invalid" verdict scores 0 and then goes
    through `apply_invalid_policy`. `question` defaults to the trajectory's question.
    """
    pred = traj_or_pred.answer if isinstance(traj_or_pred, Trajectory) else traj_or_pred
    if question is None:
        if not isinstance(traj_or_pred, Trajectory):
            raise ValueError("ajudge_reward needs the question when given a bare prediction")
        question = traj_or_pred.question
    v = await judge.ajudge(question, golds, pred)
    return apply_invalid_policy(v.score, v.verdict == "invalid", invalid_policy, invalid_penalty)
