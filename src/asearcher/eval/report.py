"""Evaluation reports: summary.json, summary.md and PNG plots (accuracy vs turns, tool calls, tokens)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from asearcher.redact import redact

logger = logging.getLogger(__name__)

_METRIC_NAMES = {"em": "EM", "f1": "F1", "cover_em": "cover-EM", "judge": "judge"}


def _column_order(col: str) -> int:
    """avg@k, then pass@k, then maj@k, then agg@k (the aggregator LLM's pick)."""
    return ("avg", "pass", "maj", "agg").index(col.split("@")[0])


def summary_markdown(summary: dict[str, dict[str, Any]], meta: dict[str, Any] | None = None) -> str:
    """A markdown table per dataset: one row per metric, one column per aggregate (avg@k, pass@k, maj@k)."""
    lines = ["# Evaluation summary", ""]
    for key, value in (meta or {}).items():
        lines.append(f"- **{key}**: {value}")
    for ds, s in summary.items():
        lines += ["", f"## {ds}", "", f"{s['questions']} questions, {s['samples']} samples, "
                  f"answered {s['answered']:.1%}", ""]
        if "datasets" in s:
            lines[-1:] = [f"Metrics: the mean over the {s['datasets']} datasets (each weighs the same); counts and "
                          "per-episode stats over all episodes.", ""]
        cols = sorted({c for m in s["metrics"].values() for c in m}, key=_column_order)
        lines.append("| metric | " + " | ".join(cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for m, vals in s["metrics"].items():
            lines.append(f"| {_METRIC_NAMES.get(m, m)} | " + " | ".join(
                f"{100 * vals[c]:.1f}" if c in vals else "" for c in cols) + " |")
        lines += ["", "| per episode | mean | median | max |", "|---|---|---|---|"]
        for stat in ("turns", "tool_calls", "gen_tokens", "time_s"):
            st = s[stat]
            lines.append(f"| {stat} | {st['mean']:.2f} | {st['median']:.2f} | {st['max']:.2f} |")
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(s["stop_reasons"].items()))
        lines += ["", f"Stop reasons: {reasons}"]
        if s.get("errors"):
            failed = ", ".join(f"{k}: {v}" for k, v in sorted(s["errors"].items()))
            lines += ["", f"Episodes failed by the world (scored 0; details under `error` in results.jsonl): {failed}"]
    return "\n".join(lines) + "\n"


def _plot_accuracy_vs_turns(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for ds in dict.fromkeys(r["dataset"] for r in records):
        by_turns: dict[int, list[float]] = defaultdict(list)
        for r in records:
            if r["dataset"] == ds:
                by_turns[r["stats"]["turns"]].append(r["scores"]["em"])
        xs = sorted(by_turns)
        ax.plot(xs, [sum(by_turns[x]) / len(by_turns[x]) for x in xs], marker="o", label=ds)
    ax.set_xlabel("turns used")
    ax.set_ylabel("EM")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("Accuracy by number of turns")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_hist(records: list[dict[str, Any]], stat: str, label: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    datasets = dict.fromkeys(r["dataset"] for r in records)
    groups = {ds: [r["stats"][stat] for r in records if r["dataset"] == ds] for ds in datasets}
    ax.hist(list(groups.values()), bins=20, label=list(groups), alpha=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("episodes")
    ax.set_title(f"Distribution of {label}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plots(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Save accuracy-vs-turns, tool-call and generated-token plots as PNG; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "accuracy_vs_turns.png", out / "tool_calls.png", out / "gen_tokens.png"]
    if not records:
        return []
    _plot_accuracy_vs_turns(records, paths[0])
    _plot_hist(records, "tool_calls", "tool calls per episode", paths[1])
    _plot_hist(records, "gen_tokens", "generated tokens per episode", paths[2])
    return paths


def write_report(
    summary: dict[str, dict[str, Any]], records: list[dict[str, Any]], out_dir: str | Path, meta: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write summary.json, summary.md and the plots under `out_dir`; returns what was written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, meta = redact(summary), redact(meta or {})  # meta names the servers: no credentials in reports
    (out / "summary.json").write_text(json.dumps({"meta": meta or {}, "datasets": summary}, indent=2, ensure_ascii=False))
    (out / "summary.md").write_text(summary_markdown(summary, meta))
    written = {"summary.json": out / "summary.json", "summary.md": out / "summary.md"}
    for p in write_plots(records, out):
        written[p.name] = p
    logger.info("report written to %s", out)
    return written
