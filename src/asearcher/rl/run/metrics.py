"""Per-step training metrics: what a batch of trajectories says, and a sink (JSONL always, TensorBoard optional).

One JSON line per step in `<run>/metrics.jsonl`; keys are flat, '/' separates families
("reward/mean", "lag/max", "time/train_s", "drops/too_stale", ...). The report reads this file.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asearcher.api.trajectory import Trajectory
from asearcher.errors import UserError
from asearcher.reward.qa_metrics import exact_match, f1_score
from asearcher.tracking.jsonl import open_append

logger = logging.getLogger(__name__)


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else 0.0


def batch_metrics(groups: Sequence[Sequence[Trajectory]]) -> dict[str, float]:
    """Reward, accuracy (EM / F1 against the golds), turns, tool calls and tokens of a trained batch."""
    trajs = [t for g in groups for t in g]
    rewards = [float(t.reward or 0.0) for t in trajs]
    return {
        "batch/groups": float(len(groups)),
        "batch/trajectories": float(len(trajs)),
        "reward/mean": _mean(rewards),
        "reward/max": max(rewards, default=0.0),
        "reward/min": min(rewards, default=0.0),
        "acc/em": _mean([exact_match(t.answer, t.gold) for t in trajs]),
        "acc/f1": _mean([f1_score(t.answer, t.gold) for t in trajs]),
        "traj/answered": _mean([1.0 if t.answer is not None else 0.0 for t in trajs]),
        "traj/format_ok": _mean([1.0 if t.format_ok else 0.0 for t in trajs]),
        "traj/turns": _mean([len(t.turns) for t in trajs]),
        "traj/tool_calls": _mean([t.num_tool_calls for t in trajs]),
        "traj/sampled_tokens": _mean([t.num_sampled_tokens for t in trajs]),
    }


def rename_trainer_stats(stats: dict[str, float]) -> dict[str, float]:
    """Trainer.step's keys under families: lag_* -> lag/*, loss stats -> loss/*, time/* kept."""
    out: dict[str, float] = {}
    for k, v in stats.items():
        if k.startswith(("time/", "logp_diff/", "lag_hist/")):
            out[k] = v
        elif k.startswith("lag_"):
            out["lag/" + k[4:]] = v
        elif k in ("version", "n_tokens", "too_stale_frac"):
            out["train/" + k] = v
        else:
            out["loss/" + k] = v
    return out


class MetricsSink:
    """Appends one JSON line per step; mirrors scalars to TensorBoard when asked (and installed) and to
    `extra` sinks (objects with the same write/close, e.g. tracking.wandb_sink.WandbSink)."""

    def __init__(self, path: Path, tensorboard: bool = False, extra: Sequence[Any] = ()) -> None:
        self.path = Path(path)
        self._extra = list(extra)
        self._file = open_append(self.path)  # cuts a row torn by a killed run
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("tensorboard=true needs the `tensorboard` package: pip install tensorboard") from None
            self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()  # a killed run keeps every finished step
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, int | float) and k != "step":
                    self._tb.add_scalar(k, v, step)
        for sink in self._extra:
            sink.write(step, row)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
        for sink in self._extra:
            sink.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl (a resumed run may repeat a step: the last row wins)."""
    rows: dict[int, dict[str, Any]] = {}
    if Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[int(r["step"])] = r
    return [rows[k] for k in sorted(rows)]
