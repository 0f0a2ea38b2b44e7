"""Fixture run folders for the UI tests: a training run and an eval run, written in the formats the
real writers use (TrajectoryLog, MetricsSink-style rows, ResultsFile records, summary.json).

Trajectories are synthesised (not run) so that 10,000 of them take seconds; token ids are the byte
tokenizer's, as the scripted engine produces them (the UI decodes them with `tokenizer="bytes"`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from asearcher.api import Segment, StopReason, Trajectory, Turn
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.tracking.trajectory_log import TrajectoryLog

TOK = ByteTokenizer()
CITIES = ["Paris", "Rome", "Lima", "Oslo", "Quito", "Cairo", "Hanoi", "Dakar"]


def trajectory(rng: random.Random, i: int, version: int, turns: int, correct: bool, sample: int = 0) -> Trajectory:
    """A plausible episode: `turns - 1` searches then an answer; tokens with mask, logprobs and versions."""
    city = CITIES[i % len(CITIES)]
    question = f"Which city is the capital of country {i} ({city})?"
    seg = Segment()
    seg.append_context(TOK.encode(f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"))
    out: list[Turn] = []
    for t in range(turns):
        last = t == turns - 1
        text = f"<answer>{city if correct else 'Berlin'}</answer>" if last else f"<search>capital {i} {t}</search>"
        ids = TOK.encode(text)
        lag = rng.randint(0, 2)
        seg.append_sampled(ids, [round(-rng.random() * 3, 2) for _ in ids], [max(0, version - lag)] * len(ids))
        if last:
            out.append(Turn(t, text, "answer", city if correct else "Berlin"))
            break
        obs = f"\n<information>{city} {t}</information>\n"
        seg.append_context(TOK.encode(obs))
        out.append(Turn(t, text, "search", f"capital {i} {t}", obs, gen_tokens=len(ids),
                        data={"thought": f"look up step {t}", "hits": [
                            {"id": f"p{t}", "title": f"{city} (page {t})", "url": f"https://en.wikipedia.org/wiki/{city}",
                             "text": f"{city} is a capital.", "score": 1.0}]}))
    return Trajectory(qid=f"q{i}", question=question, answer=out[-1].argument, stop_reason=StopReason.ANSWERED,
                      turns=out, segments=[seg], reward=1.0 if correct else 0.0, gold=[city], agent="base",
                      metadata={"sample": sample})


def write_train_run(folder: Path, steps: int, per_step: int, seed: int = 0, long_turns: int = 0) -> Path:
    """A training run: config.yaml, metrics.jsonl, trajectories.jsonl, eval_before/after summaries.

    Each step trains `per_step` trajectories (groups of 2 samples of one question); with `long_turns`
    the very first trajectory has that many turns (the 100-turn case).
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text("name: fixture\nmodel: ''\ntotal_steps: %d\nserper_api_key: s3cr3t-never-shown\n" % steps)
    log = TrajectoryLog(folder / "trajectories.jsonl")
    with (folder / "metrics.jsonl").open("w") as metrics:
        for step in range(1, steps + 1):
            groups = []
            for g in range(per_step // 2):
                i = (step * per_step // 2 + g)
                turns = long_turns if (step == 1 and g == 0 and long_turns) else rng.randint(2, 6)
                groups.append([trajectory(rng, i, step - 1, turns, rng.random() < 0.3 + step / (2 * steps), s)
                               for s in range(2)])
            log.write(step, step - 1, groups)
            metrics.write(json.dumps(metrics_row(step, steps, rng)) + "\n")
    log.close()
    for name, em in (("eval_before", 0.2), ("eval_after", 0.6)):
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "summary.json").write_text(json.dumps(summary(em)))
    return folder


def metrics_row(step: int, steps: int, rng: random.Random) -> dict:
    """A metrics.jsonl row with the keys the training loop writes."""
    progress = step / max(steps, 1)
    return {"step": step, "reward/mean": 0.2 + 0.5 * progress + rng.random() * 0.05, "acc/em": 0.2 + 0.4 * progress,
            "acc/f1": 0.3 + 0.4 * progress, "traj/turns": 4 - progress, "traj/tool_calls": 3 - progress,
            "lag/mean": 0.6, "lag/max": 2.0, "lag_hist/0": 0.5, "lag_hist/1": 0.3, "lag_hist/2": 0.2,
            "time/generating_s": 5.0, "time/train_s": 2.0, "time/sync_s": 0.2, "time/wait_s": 0.5,
            "throughput/tokens_per_s": 300 + 10 * step, "version": step}


def summary(em: float) -> dict:
    return {"meta": {"weights": "fixture"}, "datasets": {"wiki-lead": {
        "questions": 200, "samples": 200, "answered": 0.95,
        "metrics": {"em": {"avg@1": em, "pass@1": em}, "f1": {"avg@1": em + 0.1, "pass@1": em + 0.1}},
        "turns": {"mean": 3, "median": 3, "max": 6}, "tool_calls": {"mean": 2, "median": 2, "max": 5},
        "gen_tokens": {"mean": 50, "median": 50, "max": 90}, "time_s": {"mean": 1, "median": 1, "max": 2},
        "stop_reasons": {"answered": 190, "turn_limit": 10}}}}


def write_eval_run(folder: Path, questions: int, k: int = 2, seed: int = 1) -> Path:
    """An eval output folder: results.jsonl (ResultsFile records), summary.json, run.json."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"model": "http://user:pw@127.0.0.1:9/v1", "agent": "base"}))
    with (folder / "results.jsonl").open("w") as f:
        for i in range(questions):
            for s in range(k):
                ok = rng.random() < 0.5
                t = trajectory(rng, i, 0, rng.randint(2, 5), ok, s)
                rec = {"qid": t.qid, "sample": s, "dataset": ["nq", "hotpotqa"][i % 2], "question": t.question,
                       "golds": t.gold, "answer": t.answer, "scores": {"em": float(ok), "f1": float(ok)},
                       "stats": {"turns": len(t.turns), "tool_calls": t.num_tool_calls, "searches": t.num_searches,
                                 "gen_tokens": 10, "format_ok": True, "stop_reason": "answered", "time_s": 0.1},
                       "trajectory": t.to_dict()}
                f.write(json.dumps(rec) + "\n")
    (folder / "summary.json").write_text(json.dumps(summary(0.5)))
    return folder
