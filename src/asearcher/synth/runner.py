"""Runs the synthesis agent over N seed pages, a few at a time, resumably, with a progress bar.

Seed i picks its page with a generator seeded by (seed, i), so record ids (a hash of seed page,
seed and index) are the same on every rerun: finished ids are skipped, and `--n` can be raised
later to add more seeds without redoing the first ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asearcher.eval.results import read_results
from asearcher.eval.run_folder import save_config_redacted
from asearcher.redact import redact
from asearcher.failures import classify
from asearcher.synth.agent import SynthesisAgent
from asearcher.synth.outcomes import count_reasons
from asearcher.synth.output import JsonlAppender, config_path, rejected_path, summary_path

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class SynthJob:
    """One seed: its index, page and deterministic id."""

    index: int
    url: str
    id: str


def plan_jobs(seeds: list[str], n: int, seed: int) -> list[SynthJob]:
    """The first `n` seeds of the run with master seed `seed` (independent of `n` for a given index)."""
    if not seeds:
        return []
    jobs = []
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        url = seeds[rng.randrange(len(seeds))]
        qid = "synth-" + hashlib.sha1(f"{url}|{seed}|{i}".encode()).hexdigest()[:12]
        jobs.append(SynthJob(i, url, qid))
    return jobs


def done_ids(out: str | Path) -> set[str]:
    """Ids already written to the accepted or rejected file of `out` (complete lines only)."""
    out = Path(out)
    return {str(r.get("id")) for p in (out, rejected_path(out)) for r in read_results(p)[0]}


class _Progress:
    def __init__(self, total: int, done: Counter[str], enabled: bool) -> None:
        self.counts = Counter(done)
        self.bar = tqdm(total=total, initial=sum(done.values()), desc="synth", unit="seed", disable=not enabled)
        self._show()

    def _show(self) -> None:
        n = sum(self.counts.values()) or 1
        self.bar.set_postfix(
            {s: f"{self.counts[s] / n:.0%}" for s in ("accepted", "rejected", "failed")}, refresh=False
        )

    def update(self, status: str) -> None:
        self.counts[status] += 1
        self._show()
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


async def arun_synth(
    agent: SynthesisAgent,
    jobs: list[SynthJob],
    out: str | Path,
    *,
    concurrency: int = 4,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every job whose id is not yet in the output files; returns the summary (also written)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    out = Path(out)
    accepted, others = JsonlAppender(out), JsonlAppender(rejected_path(out))
    save_config_redacted(agent.config, config_path(out))
    wanted = {j.id for j in jobs}
    old = [r for r in accepted.records + others.records if r.get("id") in wanted]
    done_ids = {r["id"] for r in old}
    todo = [j for j in jobs if j.id not in done_ids]
    if done_ids:
        logger.info("resuming: %d of %d seeds already done in %s", len(done_ids), len(jobs), out)
    bar = _Progress(len(jobs), Counter(r.get("status", "failed") for r in old), progress)
    sem = asyncio.Semaphore(concurrency)
    start = time.perf_counter()

    async def one(job: SynthJob) -> None:
        async with sem:
            record = await _arun_seed(agent, job)
        record["synth"] = {"index": job.index, **(meta or {})}
        record = redact(record)  # meta names the models' URLs, error messages may quote them
        (accepted if record["status"] == "accepted" else others).append(record)  # no await: lines never interleave
        bar.update(record["status"])

    tasks = [asyncio.create_task(one(j)) for j in todo]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
        accepted.close()
        others.close()
    summary = _summary(accepted.records + others.records, wanted, out, time.perf_counter() - start)
    summary_path(out).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


async def _arun_seed(agent: SynthesisAgent, job: SynthJob) -> dict[str, Any]:
    """One seed's record; a seed the world failed (a model server down or refusing) is a failed record."""
    try:
        return await agent.arun(job.id, job.url)
    except Exception as exc:  # deliberate fault tolerance: only the world's failures are kept
        failure = classify(exc)
        if failure is None:
            raise
        logger.warning("seed %s (%s): %s: %s", job.id, job.url, failure.kind, failure.message)
        return {"id": job.id, "question": None, "answer": None, "source": agent.config.source, "status": "failed",
                "reason": f"model server: {failure.kind}: {failure.message}", "seed_url": job.url, "facts": [],
                "pages": [], "accuracy": None, "history": [], "error": failure.to_dict()}


def _summary(records: list[dict[str, Any]], wanted: set[str], out: Path, elapsed: float) -> dict[str, Any]:
    mine = [r for r in records if r.get("id") in wanted]
    status = Counter(r.get("status", "failed") for r in mine)
    actions: Counter[str] = Counter()
    for r in mine:
        for h in r.get("history", [])[1:]:
            actions[f"{h.get('action')}:{h.get('status')}"] += 1
    n = len(mine) or 1
    return {
        "seeds": len(mine),
        "accepted": status["accepted"],
        "rejected": status["rejected"],
        "failed": status["failed"],
        "acceptance_rate": round(status["accepted"] / n, 4),
        "reasons": count_reasons(mine),
        "edit_steps": dict(sorted(actions.items())),
        "files": {"accepted": str(out), "rejected": str(rejected_path(out))},
        "time_s": round(elapsed, 2),
    }
