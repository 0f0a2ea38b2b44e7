"""Rewards and QA metrics: the one grader shared by evaluation and RL training."""

from asearcher.reward.judge import JudgeVerdict, LLMJudge, parse_verdict
from asearcher.reward.qa_metrics import cover_exact_match, exact_match, f1_score, normalize_answer
from asearcher.reward.rewards import ajudge_reward, apply_invalid_policy, em_reward, f1_format_reward

__all__ = [
    "JudgeVerdict",
    "LLMJudge",
    "ajudge_reward",
    "apply_invalid_policy",
    "cover_exact_match",
    "em_reward",
    "exact_match",
    "f1_format_reward",
    "f1_score",
    "normalize_answer",
    "parse_verdict",
]
