"""What the explorer shows of one JSONL line, whichever tool wrote it.

Three line shapes are read:
- `asearcher eval`'s results.jsonl: {"qid", "sample", "dataset", "scores", "stats", "trajectory", ...};
- a training run's trajectories.jsonl (`asearcher.tracking.trajectory_log`):
  {"step", "version", "group", "staleness", "trajectory"};
- a bare trajectory (`asearcher ask --json`, the ask page's saves, a checkpoint's buffer.jsonl lines
  {"group", "trajectory"}).
"""

from __future__ import annotations

import json
from typing import Any

from asearcher.reward.qa_metrics import exact_match, f1_score

QUESTION_CHARS = 160
ANSWER_CHARS = 80


def trajectory_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The trajectory dict inside a line ({} for an eval line whose episode was rejected)."""
    if "trajectory" in rec:
        return rec["trajectory"] or {}
    return rec


def _staleness(rec: dict[str, Any], traj: dict[str, Any]) -> int | None:
    """Trainer version minus the oldest policy version among the sampled tokens (the lag it was trained at)."""
    if rec.get("staleness") is not None:
        return int(rec["staleness"])
    if rec.get("version") is None:
        return None
    sampled = [v for s in traj.get("segments", []) for v, m in zip(s["versions"], s["loss_mask"]) if m]
    return int(rec["version"]) - min(sampled) if sampled else None


def _short(text: Any, limit: int) -> str:
    s = " ".join(str(text).split()) if text is not None else ""
    return s if len(s) <= limit else s[: limit - 1] + "…"


def summarize(rec: dict[str, Any], n: int) -> dict[str, Any]:
    """The table row of a line: small, flat, sortable."""
    traj = trajectory_of(rec)
    turns = traj.get("turns", [])
    stats = rec.get("stats", {})
    scores = rec.get("scores", {})
    answer = rec["answer"] if "answer" in rec else traj.get("answer")
    gold = rec.get("golds") or traj.get("gold") or []
    em = scores.get("em", exact_match(answer, gold) if gold else None)
    reward = traj.get("reward")
    correct = bool(em) if em is not None else (reward > 0 if reward is not None else None)
    return {
        "n": n,
        "qid": str(rec.get("qid", traj.get("qid", ""))),
        "sample": rec.get("sample", traj.get("metadata", {}).get("sample")),
        "dataset": rec.get("dataset", ""),
        "question": _short(rec.get("question", traj.get("question")), QUESTION_CHARS),
        "answer": _short(answer, ANSWER_CHARS) if answer is not None else None,
        "correct": correct,
        "reward": reward,
        "em": em,
        "f1": scores.get("f1", f1_score(answer, gold) if gold else None),
        "turns": stats.get("turns", len(turns)),
        "tool_calls": stats.get("tool_calls", sum(1 for t in turns if t.get("action") in ("search", "access"))),
        "stop_reason": stats.get("stop_reason", traj.get("stop_reason", "rejected" if not traj else "")),
        "step": rec.get("step"),
        "version": rec.get("version"),
        "staleness": _staleness(rec, traj),
        "group": rec.get("group"),
        "agent": traj.get("agent", ""),
        "sampled_tokens": sum(sum(s.get("loss_mask", [])) for s in traj.get("segments", [])),
    }


def detail(rec: dict[str, Any], n: int) -> dict[str, Any]:
    """The timeline of a line: its row, golds, metadata and turns, and the segments' sizes (not tokens)."""
    traj = trajectory_of(rec)
    return {
        "row": summarize(rec, n),
        "question": rec.get("question", traj.get("question", "")),
        "answer": rec["answer"] if "answer" in rec else traj.get("answer"),
        "gold": rec.get("golds") or traj.get("gold") or [],
        "scores": rec.get("scores", {}),
        "metadata": traj.get("metadata", {}),
        "turns": traj.get("turns", []),
        "segments": [{"tokens": len(s.get("token_ids", [])), "sampled": sum(s.get("loss_mask", []))}
                     for s in traj.get("segments", [])],
    }


def text_matches(rec: dict[str, Any], needle: str) -> bool:
    """Whether `needle` occurs in the line's text (token arrays ignored: ids would match digits)."""
    traj = trajectory_of(rec)
    texts = {k: v for k, v in rec.items() if k not in ("trajectory", "segments")}
    texts["trajectory"] = {k: v for k, v in traj.items() if k != "segments"}
    return needle in json.dumps(texts, ensure_ascii=False).lower()
