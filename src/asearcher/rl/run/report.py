"""A training run's record of itself: `<run>/run.json` at the start (model, agent, the prompt's name and
text hash), and at the end `<run>/report.md` and PNG plots from metrics.jsonl and the held-out evaluations."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from asearcher.rl.run.metrics import read_metrics
from asearcher.rl.run.report_summary import example, headline, steps_table

logger = logging.getLogger(__name__)

# (file, title, metric keys) of each plot
PLOTS = [
    ("reward.png", "reward and accuracy of trained batches", ["reward/mean", "acc/em", "acc/f1"]),
    ("lag.png", "version lag of trained tokens", ["lag/max", "lag/mean"]),
    ("throughput.png", "generated tokens / s", ["throughput/tokens_per_s"]),
    ("time.png", "time per step (s)", ["time/wait_s", "time/train_s", "time/sync_s", "time/generating_s"]),
    ("logp_diff.png", "engine vs trainer |logp diff|", ["logp_diff/mean_abs"]),
    ("episodes.png", "turns and tool calls per trajectory", ["traj/turns", "traj/tool_calls"]),
    ("generation.png", "episodes per step: generated vs trained vs dropped",
     ["gen/episodes", "batch/trajectories", "drops/filtered_all_equal"]),
]

# rows of the per-run table: (label, key, format)
TABLE = [
    ("reward (mean)", "reward/mean", "{:.3f}"), ("EM", "acc/em", "{:.3f}"), ("F1", "acc/f1", "{:.3f}"),
    ("turns / trajectory", "traj/turns", "{:.2f}"), ("tool calls / trajectory", "traj/tool_calls", "{:.2f}"),
    ("generated tokens / step", "gen/tokens", "{:.0f}"), ("throughput (tokens/s)", "throughput/tokens_per_s", "{:.1f}"),
    ("lag max", "lag/max", "{:.0f}"), ("lag mean", "lag/mean", "{:.2f}"),
    ("trainer wait fraction", "time/trainer_wait_frac", "{:.2f}"),
    ("engine-trainer |logp diff|", "logp_diff/mean_abs", "{:.2e}"),
]


def _plot(rows: list[dict[str, Any]], keys: list[str], title: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {k: [(r["step"], r[k]) for r in rows if k in r] for k in keys}
    if not any(series.values()):
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, pts in series.items():
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=k)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _mean_of(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if key in r]
    return sum(vals) / len(vals) if vals else None


def _stage_labels(evals: dict[str, Any]) -> dict[str, str]:
    """Row labels of the held-out table: with a "shipped" eval the run had an SFT warm start."""
    if "shipped" in evals:
        return {"shipped": "shipped model (no training)", "before": "after SFT (RL step 0)", "after": "after SFT + RL"}
    return {"before": "before training", "after": "after training"}


def _eval_table(evals: dict[str, dict[str, Any]]) -> list[str]:
    """Held-out EM / F1 (%, avg@k) per stage: one row per evaluation ("shipped", "before", "after") and dataset."""
    labels = _stage_labels(evals)
    names = [n for n in labels if n in evals] + [n for n in evals if n not in labels]
    datasets = sorted({ds for s in evals.values() for ds in s})
    metrics = sorted({m for s in evals.values() for ds in s.values() for m in ds.get("metrics", {})})
    lines = ["## Held-out evaluation (same questions, runner and graders as `asearcher eval`)", "",
             "| weights | dataset | questions | " + " | ".join(metrics) + " |", "|---|---|---|" + "---|" * len(metrics)]
    for name in names:
        for ds in datasets:
            summary = evals[name].get(ds, {})
            cells = []
            for m in metrics:
                vals = summary.get("metrics", {}).get(m, {})
                avg = next((v for c, v in vals.items() if c.startswith("avg@")), None)
                cells.append("" if avg is None else f"{100 * avg:.1f}")
            lines.append(f"| {labels.get(name, name)} | {ds} | {summary.get('questions', '')} | " + " | ".join(cells) + " |")
    return lines


RUN_RECORD = "run.json"
# run.json keys the report's header shows (label, key)
RECORD_IN_HEADER = [("agent", "agent"), ("prompt", "prompt"), ("prompt file", "prompt_file"),
                    ("prompt sha256", "prompt_sha256")]


def write_run_record(config: Any, run_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Record in `<run_dir>/run.json` what the run trains with that config.yaml does not show: the
    selected prompt's name, file and text hash (`asearcher.agent.prompt_record`, as eval's run.json),
    so runs and eval results can be matched by prompt. `model` is there too (the UI reads it to pick
    the tokenizer). On resume the first record stays; a changed prompt text is warned about."""
    from asearcher.agent.prompts import prompt_record

    record = {"kind": "train", "model": config.model or "embedded", "agent": config.agent.kind,
              **prompt_record(config.agent)}
    path = Path(run_dir) / RUN_RECORD
    if resume and path.is_file():
        first = json.loads(path.read_text())
        if first.get("prompt_sha256") != record["prompt_sha256"]:
            logger.warning("%s: this run started with prompt %r (sha256 %s); it resumes with %r (sha256 %s)",
                           path, first.get("prompt"), str(first.get("prompt_sha256"))[:12], record["prompt"],
                           record["prompt_sha256"][:12])
        return first
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def _recorded(run_dir: Path) -> list[str]:
    """Header lines from run.json (none when the run has no record)."""
    path = run_dir / RUN_RECORD
    record = json.loads(path.read_text()) if path.is_file() else {}
    return [f"- **{label}**: {record[key]}" for label, key in RECORD_IN_HEADER if key in record]


def write_report(run_dir: Path, evals: dict[str, dict[str, Any]] | None = None,
                 meta: dict[str, Any] | None = None) -> Path:
    """Write report.md and plots into `run_dir`; returns the report path."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    lines = ["# Training report", ""]
    for k, v in (meta or {}).items():
        lines.append(f"- **{k}**: {v}")
    lines += _recorded(run_dir)
    lines += ["", f"{len(rows)} steps logged.", ""]
    if evals:
        lines += headline(run_dir, _stage_labels(evals)) + [""]
    lines += example(run_dir) + [""]
    if rows:
        lines += steps_table(rows) + [""]
    if rows:
        first, last = rows[: max(1, len(rows) // 4)], rows[-max(1, len(rows) // 4):]
        lines += ["## Training (first quarter vs last quarter of steps)", "", "| metric | first | last |", "|---|---|---|"]
        for label, key, fmt in TABLE:
            a, b = _mean_of(first, key), _mean_of(last, key)
            if a is not None or b is not None:  # a key can be missing in part of the run (logp_diff)
                cells = ["" if v is None else fmt.format(v) for v in (a, b)]
                lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        drops = sorted({k for r in rows for k in r if k.startswith("drops/")})
        if drops:
            lines += ["", "Dropped rollouts (whole run): " + ", ".join(
                f"{k[6:]}: {int(sum(r.get(k, 0) for r in rows))}" for k in drops)]
        hist = sorted({k for r in rows for k in r if k.startswith("lag_hist/")}, key=lambda k: int(k.split("/")[1]))
        if hist:
            lines += ["", "Version lag of trained tokens (fraction, mean over steps): " + ", ".join(
                f"{k.split('/')[1]}: {sum(r.get(k, 0.0) for r in rows) / len(rows):.2f}" for k in hist)]
    if evals:
        lines += [""] + _eval_table(evals)
    lines += ["", "## Plots", ""]
    for name, title, keys in PLOTS:
        if _plot(rows, keys, title, run_dir / name):
            lines.append(f"![{title}]({name})")
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    logger.info("report written to %s", path)
    return path
