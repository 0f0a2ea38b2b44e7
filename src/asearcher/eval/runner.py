"""The evaluation runner: any agent over a dataset, k samples per question, N at a time, resumable.

Each finished (question, sample) is scored with the shared graders (`asearcher.reward`) and
appended to `results.jsonl` at once, so an interrupted run (Ctrl-C, crash, SIGKILL) loses only the
episodes in flight; rerunning the same command skips every finished pair.

An episode that fails from the world's side (a server refusing or failing, a timeout: see
`asearcher.failures`) is recorded with its typed stop reason and error, scored 0, and the run goes
on; any other exception is our bug and ends the run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asearcher.api.agent import Agent
from asearcher.api.trajectory import Trajectory
from asearcher.eval.datasets import QAItem
from asearcher.eval.metrics import score_answer
from asearcher.eval.results import ResultsFile
from asearcher.failures import EpisodeFailure, acapped, classify
from asearcher.redact import redact
from asearcher.reward.judge import LLMJudge

logger = logging.getLogger(__name__)

# Builds a fresh agent for one episode. A factory taking one argument gets the sample index, so that
# the k samples of a question can be seeded differently.
AgentFactory = Callable[..., Agent]


@dataclass(slots=True)
class RunOptions:
    """Knobs of one evaluation run (the CLI fills them from its flags)."""

    k: int = 1  # samples per question
    concurrency: int = 8  # episodes in flight at once
    f1_mode: str = "multiset"  # with metrics="squad": "multiset" (SQuAD) or "set"
    metrics: str = "asearcher"  # answer metrics: "asearcher" or "squad" (docs/metrics.md)
    progress: bool = True  # show a tqdm bar
    fsync: bool = True  # fsync every result line
    episode_timeout_s: float = 0.0  # wall-clock cap of one episode (0: none); past it: stop reason "timeout"


def sample_seed(seed: int | None, sample: int, k: int) -> int | None:
    """The sampling seed of sample `sample` of k: `seed + sample`, so the k samples of a question differ
    on engines that honour seeds (one seed for all would make them identical); with no seed set, k = 1
    keeps the engine's default and k > 1 numbers the samples from 0, reproducibly.

    >>> [sample_seed(7, s, 3) for s in range(3)], sample_seed(None, 0, 1), sample_seed(None, 2, 4)
    ([7, 8, 9], None, 2)
    """
    if seed is None and k == 1:
        return None
    return (seed or 0) + sample


def gen_tokens(traj: Trajectory) -> int:
    """Tokens the model generated in the episode (per-turn counts, else the sampled segment tokens)."""
    return sum(t.gen_tokens for t in traj.turns) or traj.num_sampled_tokens


def make_record(item: QAItem, sample: int, traj: Trajectory | None, elapsed: float, f1_mode: str,
                failure: EpisodeFailure | None = None, metrics: str = "asearcher") -> dict[str, Any]:
    """The result line for one episode. A rejected episode (None) scores 0 with stop reason "rejected";
    a failed one scores 0 with its failure's stop reason, and the failure under "error"."""
    answer = traj.answer if traj is not None else None
    stop = failure.stop_reason.value if failure else traj.stop_reason.value if traj else "rejected"
    record = {
        "qid": item.id,
        "sample": sample,
        "dataset": item.source,
        "question": item.question,
        "golds": item.golds,
        "answer": answer,
        "scores": score_answer(answer, item.golds, f1_mode, metrics),
        "stats": {
            "turns": len(traj.turns) if traj else 0,
            "tool_calls": traj.num_tool_calls if traj else 0,
            "searches": traj.num_searches if traj else 0,
            "gen_tokens": gen_tokens(traj) if traj else 0,
            "format_ok": traj.format_ok if traj else False,
            "stop_reason": stop,
            "time_s": round(elapsed, 4),
        },
        "trajectory": traj.to_dict() if traj else None,
    }
    if failure is not None:
        record["error"] = failure.to_dict()
    return record


class _Progress:
    """tqdm bar showing running EM over finished samples (this run and resumed ones)."""

    def __init__(self, total: int, done: list[dict[str, Any]], enabled: bool) -> None:
        self.n = len(done)
        self.em = sum(r["scores"]["em"] for r in done)
        self.bar = tqdm(total=total, initial=len(done), desc="eval", unit="ep", disable=not enabled)

    def update(self, record: dict[str, Any]) -> None:
        self.n += 1
        self.em += record["scores"]["em"]
        postfix = {"EM": f"{self.em / self.n:.3f}"}
        if (j := record["scores"].get("judge")) is not None:
            postfix["judge"] = f"{j:.0f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _build(factory: AgentFactory, sample: int) -> Agent:
    """A fresh agent per episode (per-episode state never leaks between questions)."""
    takes_sample = len(inspect.signature(factory).parameters) >= 1
    return factory(sample) if takes_sample else factory()


async def _arun_agent(agent: Agent, item: QAItem, cap_s: float) -> tuple[Trajectory | None, EpisodeFailure | None]:
    """The episode's trajectory, or its failure when the world failed it; our bugs propagate."""
    try:
        return await acapped(agent.arun(item.question, qid=item.id, gold=list(item.golds)), cap_s), None
    except Exception as exc:  # deliberate fault tolerance: only the world's failures are kept
        failure = classify(exc)
        if failure is None:
            raise
        logger.warning("question %s: episode ended by %s: %s", item.id, failure.kind, failure.message)
        return None, failure


async def _ajudge(judge: LLMJudge, item: QAItem, record: dict[str, Any]) -> None:
    """Add the judge's score; a judge server that fails counts as an incorrect verdict, shown as such."""
    try:
        verdict = await judge.ajudge(item.question, item.golds, record["answer"])
    except Exception as exc:  # deliberate fault tolerance, as for episodes
        failure = classify(exc)
        if failure is None:
            raise
        record["scores"]["judge"] = 0.0
        record["judge"] = {"verdict": "error", "raw": f"{failure.kind}: {failure.message}"}
        return
    record["scores"]["judge"] = verdict.score
    record["judge"] = {"verdict": verdict.verdict, "raw": verdict.raw}


async def _episode(item: QAItem, sample: int, factory: AgentFactory, judge: LLMJudge | None,
                   opts: RunOptions) -> dict[str, Any]:
    agent = _build(factory, sample)
    start = time.perf_counter()
    traj, failure = await _arun_agent(agent, item, opts.episode_timeout_s)
    if traj is not None:
        traj.metadata["sample"] = sample
    record = make_record(item, sample, traj, time.perf_counter() - start, opts.f1_mode, failure, opts.metrics)
    record["seed"] = getattr(getattr(agent, "config", None), "seed", None)  # the sampling seed it ran with
    if judge is not None:
        await _ajudge(judge, item, record)
    # Credentials can reach a record through error messages (a server URL with a password in it).
    return redact(record)


async def arun_eval(
    items: list[QAItem],
    factory: AgentFactory,
    results_path: str | Path,
    options: RunOptions | None = None,
    judge: LLMJudge | None = None,
) -> list[dict[str, Any]]:
    """Run every (item, sample) not already in `results_path`; returns all records (old and new).

    On cancellation (Ctrl-C) in-flight episodes are cancelled and finished ones are kept on disk.
    """
    opts = options or RunOptions()
    if opts.k < 1 or opts.concurrency < 1:
        raise ValueError(f"k and concurrency must be >= 1, got k={opts.k} concurrency={opts.concurrency}")
    wanted = {(it.id, s) for it in items for s in range(opts.k)}
    with ResultsFile(results_path, fsync=opts.fsync) as out:
        done = [r for r in out.records if (r["qid"], int(r["sample"])) in wanted]
        todo = [(it, s) for s in range(opts.k) for it in items if (it.id, s) not in out.done]
        if done:
            logger.info("resuming: %d of %d episodes already in %s", len(done), len(wanted), out.path)
        queue: asyncio.Queue[tuple[QAItem, int]] = asyncio.Queue()
        for pair in todo:
            queue.put_nowait(pair)
        progress = _Progress(len(wanted), done, opts.progress)

        async def worker() -> None:
            while not queue.empty():
                item, sample = queue.get_nowait()
                record = await _episode(item, sample, factory, judge, opts)
                out.append(record)  # synchronous: lines never interleave
                progress.update(record)

        workers = [asyncio.create_task(worker()) for _ in range(min(opts.concurrency, len(todo)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            progress.close()
        return [r for r in out.records if (r["qid"], int(r["sample"])) in wanted]
