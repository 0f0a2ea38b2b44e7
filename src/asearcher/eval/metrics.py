"""Aggregate per-sample scores into per-dataset metrics: Avg@k, Pass@k (unbiased), majority vote, stats.

Pass@k uses the unbiased estimator of Chen et al. (2021): with n samples of which c are correct,
pass@k = 1 - C(n-c, k) / C(n, k). For graded metrics (F1) the same idea gives the expected best
score of k samples drawn without replacement from the n; on 0/1 scores it equals pass@k exactly.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from math import comb
from typing import Any

from asearcher.eval.scaling import majority_vote
from asearcher.reward.metric_sets import answer_scores

METRICS = ("em", "f1", "cover_em", "judge")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: probability that at least one of k samples (of n, c correct) is correct.

    >>> pass_at_k(4, 1, 2)
    0.5
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def expected_max_at_k(scores: list[float], k: int) -> float:
    """Expected max of k scores drawn without replacement from `scores` (pass@k for graded scores).

    The i-th smallest score (1-based) is the max of a k-subset in C(i-1, k-1) of the C(n, k) subsets.

    >>> expected_max_at_k([0.0, 1.0, 0.0, 0.0], 2)
    0.5
    """
    n = len(scores)
    if not 1 <= k <= n:
        raise ValueError(f"expected_max_at_k needs 1 <= k <= len(scores), got k={k} n={n}")
    ordered = sorted(scores)
    return sum(s * comb(i, k - 1) for i, s in enumerate(ordered)) / comb(n, k)


def score_answer(
    pred: str | None, golds: list[str], f1_mode: str = "multiset", metrics: str = "asearcher"
) -> dict[str, float]:
    """EM, F1 and cover-EM of one prediction (the judge score is added by the runner).

    `metrics` picks the definitions ("asearcher": ASearcher's evaluation script, as in the paper's
    tables; "squad": SQuAD/HotpotQA, with `f1_mode` counting); see docs/metrics.md.
    """
    return answer_scores(pred, golds, metrics, f1_mode)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _stats(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"mean": 0.0, "median": 0.0, "max": 0.0}
    return {"mean": _mean(xs), "median": float(statistics.median(xs)), "max": float(max(xs))}


def _score(record: dict[str, Any], metric: str) -> float | None:
    """A record's score for `metric`, None when it was not measured. A judged record whose verdict
    was invalid or failed counts 0 (results written before failures counted hold None there)."""
    value = record["scores"].get(metric)
    if value is None and metric == "judge" and record.get("judge") is not None:
        return 0.0
    return None if value is None else float(value)


def judge_verdicts(records: list[dict[str, Any]]) -> dict[str, int]:
    """How many judged samples got each verdict; "failed": no verdict (scored as incorrect)."""
    verdicts = [r["judge"].get("verdict") for r in records if r.get("judge") is not None]
    counts = Counter(v if v is not None else "failed" for v in verdicts)
    return {v: counts.get(v, 0) for v in ("correct", "incorrect", "invalid", "failed")}


def summarize_dataset(
    records: list[dict[str, Any]], k: int, f1_mode: str = "multiset", metrics: str = "asearcher"
) -> dict[str, Any]:
    """Metrics of one dataset from its result records (one per question and sample)."""
    by_q: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_q[r["qid"]].append(r)
    table: dict[str, dict[str, float]] = {}
    names = [m for m in METRICS if any(_score(r, m) is not None for r in records)]
    for m in names:
        avg, best = [], []
        for rs in by_q.values():
            vals = [v for r in rs if (v := _score(r, m)) is not None]
            if not vals:
                continue
            avg.append(_mean(vals))
            best.append(expected_max_at_k(vals, min(k, len(vals))))
        table[m] = {f"avg@{k}": _mean(avg), f"pass@{k}": _mean(best)}
    if k > 1:  # majority vote over normalised answers: the paper's parallel test-time scaling
        # Ties go to the answer of the lowest sample index, not to whichever episode finished first.
        voted = [score_answer(majority_vote([r["answer"] for r in sorted(rs, key=lambda r: int(r["sample"]))]),
                              rs[0]["golds"], f1_mode, metrics) for rs in by_q.values()]
        for m in ("em", "f1", "cover_em"):
            table[m][f"maj@{k}"] = _mean([v[m] for v in voted])
    extra = {"judge_verdicts": judge_verdicts(records)} if "judge" in names else {}
    st = [r["stats"] for r in records]
    return {
        "questions": len(by_q),
        "samples": len(records),
        "metrics": table,
        **extra,
        "answered": _mean([1.0 if r["answer"] is not None else 0.0 for r in records]),
        "turns": _stats([s["turns"] for s in st]),
        "tool_calls": _stats([s["tool_calls"] for s in st]),
        "gen_tokens": _stats([s["gen_tokens"] for s in st]),
        "time_s": _stats([s["time_s"] for s in st]),
        "stop_reasons": dict(Counter(s["stop_reason"] for s in st)),
        # Episodes the world failed (a server down or refusing, a timeout), by exception type.
        "errors": dict(Counter(r["error"]["kind"] for r in records if r.get("error"))),
    }


def summarize(
    records: list[dict[str, Any]], k: int, f1_mode: str = "multiset", metrics: str = "asearcher"
) -> dict[str, dict[str, Any]]:
    """Per-dataset summaries, keyed by dataset name, in first-seen order."""
    by_ds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_ds[r["dataset"]].append(r)
    return {ds: summarize_dataset(rs, k, f1_mode, metrics) for ds, rs in by_ds.items()}


def overall_summary(per_dataset: dict[str, dict[str, Any]], records: list[dict[str, Any]], k: int,
                    f1_mode: str = "multiset", metrics: str = "asearcher") -> dict[str, Any]:
    """All datasets of a run together. Counts and per-episode stats are pooled over every episode;
    each metric is the mean of the datasets' values, so every dataset weighs the same whatever its
    size (ASearcher's "Average" row); the pooled metrics are kept under `metrics_pooled`."""
    # Question ids are unique within a dataset only.
    pooled = summarize_dataset([{**r, "qid": f"{r['dataset']}/{r['qid']}"} for r in records], k, f1_mode,
                               metrics)
    macro: dict[str, dict[str, float]] = {}
    for s in per_dataset.values():
        for m, cols in s["metrics"].items():
            for col in cols:
                macro.setdefault(m, {})[col] = _mean([d["metrics"][m][col] for d in per_dataset.values()
                                                      if col in d["metrics"].get(m, {})])
    pooled["metrics_pooled"], pooled["metrics"] = pooled["metrics"], macro
    pooled["datasets"] = len(per_dataset)
    return pooled
