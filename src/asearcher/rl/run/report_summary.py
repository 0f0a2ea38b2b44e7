"""The report's lead: held-out EM per stage with 95% confidence intervals, the paired RL - SFT
difference, episodes per step (generated / trained / dropped / skipped, turns, tool calls) and one
example trajectory before and after RL. Read from the run folder (eval_*/results.jsonl, metrics rows)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

Z95 = 1.959964


def wilson(k: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n (k may be fractional: an avg@k mean times n).

    >>> [round(x, 3) for x in wilson(8, 10)]
    [0.49, 0.943]
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_diff(a: dict[str, float], b: dict[str, float]) -> tuple[float, float, int]:
    """Mean of b - a over the questions both scored, and its 95% half-width (normal approximation).

    >>> [round(x, 4) for x in paired_diff({"x": 0, "y": 1, "z": 0}, {"x": 1, "y": 1, "z": 0})]
    [0.3333, 0.6533, 3]
    """
    qs = sorted(set(a) & set(b))
    d = [b[q] - a[q] for q in qs]
    n = len(d)
    if n < 2:
        return (d[0] if d else 0.0), float("nan"), n
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return mean, Z95 * sd / math.sqrt(n), n


def load_results(run_dir: Path, name: str) -> list[dict[str, Any]]:
    p = Path(run_dir) / f"eval_{name}" / "results.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.is_file() else []


def _per_question(records: list[dict[str, Any]], metric: str = "em") -> dict[str, float]:
    by_q: dict[str, list[float]] = {}
    for r in records:
        by_q.setdefault(r["qid"], []).append(float(r["scores"].get(metric, 0.0)))
    return {q: sum(v) / len(v) for q, v in by_q.items()}


def headline(run_dir: Path, labels: dict[str, str]) -> list[str]:
    """The held-out table with CIs, tool calls and turns per episode, and the paired RL - SFT difference."""
    lines = ["## Held-out accuracy", "", "| weights | EM % | 95% CI | questions | tool calls / episode | turns / episode |",
             "|---|---|---|---|---|---|"]
    scores = {}
    for name, label in labels.items():
        records = load_results(run_dir, name)
        if not records:
            continue
        em = scores[name] = _per_question(records)
        n = len(em)
        lo, hi = wilson(sum(em.values()), n)
        calls = sum(r["stats"].get("tool_calls", 0) for r in records) / len(records)
        turns = sum(r["stats"].get("turns", 0) for r in records) / len(records)
        lines.append(f"| {label} | {100 * sum(em.values()) / n:.1f} | {100 * lo:.1f}-{100 * hi:.1f} | {n} | "
                     f"{calls:.2f} | {turns:.2f} |")
    if "before" in scores and "after" in scores:
        mean, half, n = paired_diff(scores["before"], scores["after"])
        lines += ["", f"RL - SFT (paired over {n} questions): **{100 * mean:+.1f} EM points**, 95% CI "
                  f"{100 * (mean - half):+.1f} to {100 * (mean + half):+.1f}."]
    return lines


STEP_COLUMNS = [("generated", "gen/episodes", "{:.0f}"), ("trained", "batch/trajectories", "{:.0f}"),
                ("dropped (all equal)", "drops/filtered_all_equal", "{:.0f}"), ("skipped draws (total)", "data/skipped",
                                                                                "{:.0f}"),
                ("reward", "reward/mean", "{:.2f}"), ("turns", "traj/turns", "{:.2f}"),
                ("tool calls", "traj/tool_calls", "{:.2f}")]


def steps_table(rows: list[dict[str, Any]]) -> list[str]:
    """Episodes per step: generated vs trained vs dropped, skipped draws, and what the trained episodes did."""
    lines = ["## Episodes per step", "", "| step | " + " | ".join(c for c, _, _ in STEP_COLUMNS) + " |",
             "|---|" + "---|" * len(STEP_COLUMNS)]
    for r in rows:
        cells = [fmt.format(r[k]) if k in r else ("0" if k.startswith("drops/") else "") for _, k, fmt in STEP_COLUMNS]
        lines.append(f"| {r['step']} | " + " | ".join(cells) + " |")
    gen = sum(r.get("gen/episodes", 0) for r in rows)
    trained = sum(r.get("batch/trajectories", 0) for r in rows)
    dropped = sum(r.get("drops/filtered_all_equal", 0) for r in rows)
    lines += ["", f"Whole run: {gen:.0f} episodes generated, {trained:.0f} trained, {dropped:.0f} dropped as all-equal."]
    return lines


def _render(record: dict[str, Any], width: int = 90) -> list[str]:
    out = []
    for t in record["trajectory"]["turns"]:
        arg = (t.get("argument") or t.get("output") or "").replace("\n", " ")
        out.append(f"    {t['action']}: {arg[:width]}{'...' if len(arg) > width else ''}")
    em = record["scores"].get("em", 0.0)
    out.append(f"    -> answer {record.get('answer')!r} (EM {em:.0f}; gold {record['golds'][0]!r})")
    return out


def example(run_dir: Path) -> list[str]:
    """One held-out question before and after RL: the first one RL turned from wrong to right, else the first."""
    before = {r["qid"]: r for r in load_results(run_dir, "before") if r.get("sample", 0) == 0}
    after = {r["qid"]: r for r in load_results(run_dir, "after") if r.get("sample", 0) == 0}
    both = [q for q in before if q in after]
    if not both:
        return []
    flipped = [q for q in both if before[q]["scores"].get("em", 0) < after[q]["scores"].get("em", 0)]
    q = (flipped or both)[0]
    lines = ["## Example (held-out)", "", f"Question: {before[q]['question']}", "", "```", "after SFT (before RL):"]
    lines += _render(before[q]) + ["after RL:"] + _render(after[q]) + ["```"]
    return lines
