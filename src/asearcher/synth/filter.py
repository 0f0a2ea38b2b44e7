"""Difficulty filtering: keep questions that a model solves sometimes, and only with real search.

Given k rollouts per question (the eval runner's `results.jsonl`: one line per question and
sample, with `scores` and `stats.searches`), a question is dropped, first matching reason wins:
- `no_rollouts`: the rollouts file has none for it;
- `never_solved`: no rollout solved it (maybe unanswerable or wrongly labelled);
- `too_easy`: solved in >= `max_solve_rate` of its rollouts (the paper: 50%);
- `few_searches`: some rollout solved it with <= `max_trivial_searches` searches (the paper: 1).
Kept questions are written unchanged; dropped ones go to a JSONL with their reason and numbers.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from asearcher.api.trajectory import Trajectory
from asearcher.errors import UserError
from asearcher.eval.datasets import record_to_item, source_name
from asearcher.synth.config import FilterConfig

logger = logging.getLogger(__name__)


def _read_jsonl(path: Path) -> list[tuple[str, dict[str, Any]]]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise UserError(f"{path}:{n}: expected a JSON object")
            out.append((f"{path}:{n}", rec))
    return out


def _question_ids(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(id, raw record) with the ids the eval runner gives them (`load_qa`'s rules, duplicates #n)."""
    seen: dict[str, int] = {}
    out = []
    for row, (where, rec) in enumerate(_read_jsonl(path)):
        qid = record_to_item(rec, where, source_name(path), row).id
        if qid in seen:
            seen[qid] += 1
            qid = f"{qid}#{seen[qid]}"
        else:
            seen[qid] = 0
        out.append((qid, rec))
    return out


def _rollout(where: str, rec: dict[str, Any], metric: str) -> tuple[str, float, int]:
    """(qid, score, searches) of one eval result line."""
    if "qid" not in rec:
        raise UserError(f"{where}: no 'qid': expected a result line of `asearcher eval` (results.jsonl)")
    score = (rec.get("scores") or {}).get(metric)
    if not isinstance(score, int | float):
        hint = " (run `asearcher eval --judge URL`, or set metric=em)" if metric == "judge" else ""
        raise UserError(f"{where}: field scores.{metric} is missing or not a number: {score!r}{hint}")
    searches = (rec.get("stats") or {}).get("searches")
    if searches is None and isinstance(rec.get("trajectory"), dict):
        searches = Trajectory.from_dict(rec["trajectory"]).num_searches
    if not isinstance(searches, int):
        raise UserError(f"{where}: no search count: expected stats.searches or a trajectory")
    return str(rec["qid"]), float(score), searches


def _reason(scores: list[tuple[float, int]], config: FilterConfig) -> tuple[str | None, dict[str, Any]]:
    if not scores:
        return "no_rollouts", {"k": 0}
    solved = [s for score, s in scores if score >= config.solved_at]
    rate = len(solved) / len(scores)
    info = {"k": len(scores), "solve_rate": round(rate, 4), "min_searches_solved": min(solved) if solved else None}
    if not solved:
        return ("never_solved" if config.drop_unsolved else None), info
    if rate >= config.max_solve_rate:
        return "too_easy", info
    if config.max_trivial_searches >= 0 and min(solved) <= config.max_trivial_searches:
        return "few_searches", info
    return None, info


def filter_questions(
    questions: str | Path,
    rollouts: str | Path,
    out: str | Path,
    dropped_out: str | Path | None = None,
    config: FilterConfig | None = None,
) -> dict[str, Any]:
    """Write the kept questions to `out` and the dropped ones (with reasons) to `dropped_out`; returns the report."""
    config = config or FilterConfig()
    questions, rollouts, out = Path(questions), Path(rollouts), Path(out)
    dropped_out = Path(dropped_out) if dropped_out else out.with_name(f"{out.stem}.dropped.jsonl")
    qs = _question_ids(questions)
    by_q: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for where, rec in _read_jsonl(rollouts):
        qid, score, searches = _rollout(where, rec, config.metric)
        by_q[qid].append((score, searches))
    known = {qid for qid, _ in qs}
    stray = sorted(set(by_q) - known)
    if stray:
        logger.warning("%s: %d question id(s) not in %s ignored, e.g. %s", rollouts, len(stray), questions, stray[:3])
    reasons: Counter[str] = Counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as keep_f, dropped_out.open("w", encoding="utf-8") as drop_f:
        for qid, rec in qs:
            reason, info = _reason(by_q.get(qid, []), config)
            if reason is None:
                keep_f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                reasons[reason] += 1
                drop_f.write(
                    json.dumps({"id": qid, "reason": reason, **info, "record": rec}, ensure_ascii=False) + "\n"
                )
    kept = len(qs) - sum(reasons.values())
    return {
        "questions": len(qs),
        "kept": kept,
        "dropped": dict(sorted(reasons.items())),
        "unmatched_rollout_ids": len(stray),
        "files": {"kept": str(out), "dropped": str(dropped_out)},
    }
