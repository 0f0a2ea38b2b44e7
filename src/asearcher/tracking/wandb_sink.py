"""Weights & Biases as a metrics sink beside metrics.jsonl and TensorBoard (`wandb=true`).

It logs each step's row under the same flat names as metrics.jsonl ("reward/mean", "lag/max",
"time/train_s", ...), so W&B panels, the `asearcher ui` dashboard and the report read the same
series; W&B groups them into sections by the part before '/'. The run's resolved config is logged
as the W&B config. `wandb` is an optional extra (`pip install asearcher[wandb]`); offline mode
(`mode="offline"`) writes a run folder that `wandb sync` uploads later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asearcher.config import cfg
from asearcher.errors import UserError


@dataclass
class WandbConfig:
    """Where W&B puts the run (the training config embeds it; `wandb=true` enables it)."""

    project: str = cfg("asearcher", "W&B project.")
    name: str = cfg("", "W&B run name; empty = the run folder's name.")
    entity: str = cfg("", "W&B entity (team or user); empty = your default.")
    mode: Literal["online", "offline", "disabled"] = cfg(
        "online", "'offline' writes locally (sync later with `wandb sync`); 'disabled' logs nothing.")
    tags: list[str] = cfg([], "W&B tags of the run.")


class WandbSink:
    """`write(step, metrics)` / `close()`, the interface of `MetricsSink`; numbers only, NaN dropped."""

    def __init__(self, run_dir: Path, config: WandbConfig, run_config: dict[str, Any] | None = None) -> None:
        try:
            import wandb
        except ImportError:
            raise UserError("wandb=true needs the `wandb` package: pip install 'asearcher[wandb]'") from None
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            project=config.project, name=config.name or run_dir.name, entity=config.entity or None,
            mode=config.mode, tags=list(config.tags) or None, config=run_config or {}, dir=str(run_dir),
            # The run folder's name is unique per run, so a resumed run continues its W&B run.
            id=re.sub(r"[^A-Za-z0-9_-]", "-", run_dir.name)[:64], resume="allow",
        )

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        row = {k: v for k, v in metrics.items() if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)
               and not (isinstance(v, float) and math.isnan(v))}
        self._run.log(row, step=step)

    def close(self) -> None:
        self._run.finish()
