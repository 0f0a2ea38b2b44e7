"""Rewards and QA metrics: the one grader shared by evaluation and RL training."""

from asearcher.reward.judge import JudgeVerdict, LLMJudge, parse_verdict
from asearcher.reward.metric_sets import METRIC_SETS, MetricSet, answer_scores, reward_score
from asearcher.reward.qa_metrics import cover_exact_match, exact_match, f1_score, normalize_answer
from asearcher.reward.rewards import (
    ajudge_reward,
    apply_invalid_policy,
    claims_invalid,
    em_reward,
    f1_format_reward,
)

__all__ = [
    "METRIC_SETS",
    "JudgeVerdict",
    "LLMJudge",
    "MetricSet",
    "ajudge_reward",
    "answer_scores",
    "apply_invalid_policy",
    "claims_invalid",
    "cover_exact_match",
    "em_reward",
    "exact_match",
    "f1_format_reward",
    "f1_score",
    "normalize_answer",
    "parse_verdict",
    "reward_score",
]
