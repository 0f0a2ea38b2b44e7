"""The paper's K-run aggregation at evaluation time: an aggregator LLM picks one answer among a
question's k sampled answers; its pick is scored like any answer and reported as `agg@k`.

Written to `aggregated.jsonl` next to the results (recomputed on every run: it depends on all k
samples, which a resumed run may only now have).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from asearcher.api.engine import InferenceEngine
from asearcher.eval.metrics import score_answer
from asearcher.eval.scaling import aaggregate_with_llm, majority_vote
from asearcher.failures import classify
from asearcher.redact import redact

logger = logging.getLogger(__name__)


async def _aone(engine: InferenceEngine, rs: list[dict[str, Any]], f1_mode: str, metrics: str) -> dict[str, Any]:
    first = rs[0]
    answers = [r["answer"] for r in sorted(rs, key=lambda r: int(r["sample"]))]
    row: dict[str, Any] = {"dataset": first["dataset"], "qid": first["qid"], "answers": answers}
    try:
        row["aggregated"] = await aaggregate_with_llm(engine, first["question"], answers)
    except Exception as exc:  # deliberate fault tolerance: the aggregator server failing
        failure = classify(exc)
        if failure is None:
            raise
        logger.warning("aggregator failed for %s (%s); using the majority vote", first["qid"], failure.kind)
        row["aggregated"], row["error"] = majority_vote(answers), failure.to_dict()
    row["scores"] = score_answer(row["aggregated"], first["golds"], f1_mode, metrics)
    return row


async def aaggregate(
    engine: InferenceEngine, records: list[dict[str, Any]], f1_mode: str, concurrency: int = 8,
    metrics: str = "asearcher",
) -> list[dict[str, Any]]:
    """One row per question: its samples' answers, the aggregator's pick and the pick's scores."""
    by_q: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_q[(r["dataset"], r["qid"])].append(r)
    sem = asyncio.Semaphore(concurrency)

    async def one(rs: list[dict[str, Any]]) -> dict[str, Any]:
        async with sem:
            return await _aone(engine, rs, f1_mode, metrics)

    return list(await asyncio.gather(*(one(rs) for rs in by_q.values())))


def add_aggregate_metrics(summary: dict[str, dict[str, Any]], rows: list[dict[str, Any]], k: int) -> None:
    """Put `agg@k` (mean score of the aggregator's picks) beside avg@k / pass@k / maj@k, per dataset."""
    for ds, s in summary.items():
        mine = [r for r in rows if r["dataset"] == ds]
        if not mine:
            continue
        for m in ("em", "f1", "cover_em"):
            if m in s["metrics"]:
                s["metrics"][m][f"agg@{k}"] = sum(r["scores"][m] for r in mine) / len(mine)


def write_aggregated(rows: list[dict[str, Any]], path: Path) -> None:
    """The aggregator's picks, one JSON line per question."""
    path.write_text("".join(json.dumps(redact(r), ensure_ascii=False) + "\n" for r in rows))
