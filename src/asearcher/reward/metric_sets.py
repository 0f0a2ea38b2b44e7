"""Choosing a family of answer metrics: ASearcher's (the default, as in the paper's tables) or SQuAD's.

Evaluation reports EM, F1 and cover-EM from `answer_scores`; the outcome rewards grade with
`reward_score`. Both take `metrics="asearcher" | "squad"`; docs/metrics.md tabulates every definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from asearcher.reward import asearcher_metrics as asr
from asearcher.reward import qa_metrics as squad
from asearcher.reward.qa_metrics import F1Mode

MetricSet = Literal["asearcher", "squad"]
METRIC_SETS: tuple[str, ...] = ("asearcher", "squad")


def check_metric_set(metrics: str) -> None:
    """Raise ValueError naming the allowed values when `metrics` is not one of them."""
    if metrics not in METRIC_SETS:
        raise ValueError(f"metrics must be one of {', '.join(METRIC_SETS)}, got {metrics!r}")


def answer_scores(
    pred: str | None, golds: str | Iterable[str], metrics: str = "asearcher", f1_mode: str = "multiset"
) -> dict[str, float]:
    """EM, F1 and cover-EM of one prediction, as evaluation reports them.

    "asearcher": ASearcher's evaluation script (EM; set F1 with punctuation as spaces; token cover-EM).
    "squad": official SQuAD/HotpotQA EM and F1 (`f1_mode` picks multiset or set counting) and
    Search-R1's substring cover-EM.

    >>> answer_scores("Coca Cola", ["Coca-Cola"])["f1"], answer_scores("Coca Cola", ["Coca-Cola"], "squad")["f1"]
    (1.0, 0.0)
    """
    check_metric_set(metrics)
    golds = list(golds) if not isinstance(golds, str) else [golds]
    if metrics == "asearcher":
        return {
            "em": asr.exact_match(pred, golds),
            "f1": asr.eval_f1(pred, golds),
            "cover_em": asr.cover_exact_match(pred, golds),
        }
    return {
        "em": squad.exact_match(pred, golds),
        "f1": squad.f1_score(pred, golds, f1_mode=f1_mode),  # type: ignore[arg-type]
        "cover_em": squad.cover_exact_match(pred, golds),
    }


def reward_score(
    pred: str | None, golds: str | Iterable[str], kind: str = "f1", metrics: str = "asearcher", f1_mode: F1Mode = "set"
) -> float:
    """The answer score an outcome reward starts from: `kind` "f1" or "em".

    "asearcher": ASearcher's training-reward definitions (True/False -> yes/no, Chinese character
    split for F1). "squad": SQuAD EM, or SQuAD F1 counted as `f1_mode` says.

    >>> reward_score("yes", ["True"]), reward_score("yes", ["True"], metrics="squad")
    (1.0, 0.0)
    """
    check_metric_set(metrics)
    if kind not in ("f1", "em"):
        raise ValueError(f"reward kind must be 'f1' or 'em', got {kind!r}")
    if metrics == "asearcher":
        return asr.reward_f1(pred, golds) if kind == "f1" else asr.exact_match(pred, golds, yes_no=True)
    return squad.f1_score(pred, golds, f1_mode=f1_mode) if kind == "f1" else squad.exact_match(pred, golds)
