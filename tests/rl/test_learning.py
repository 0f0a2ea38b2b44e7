"""The CPU default learns: held-out EM after SFT warm start + RL beats the shipped model's by a margin.

Runs the cpu-default recipe end to end through `atrain` on the embedded model and corpus: the
shipped model's held-out EM (the "before training" baseline), the SFT warm start on scripted expert
episodes (rl/expert.py, rl/sft.py, rl/sft_stage.py), then RL from the SFT weights (its "before"
eval = SFT only, its "after" eval = SFT + RL). Minutes on 2 quiet cores (docs/cpu-default.md), hence `slow`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "src" / "asearcher" / "recipes" / "cpu-default.yaml"
# Measured: the shipped model scores 0/16 (it never emits an action); the margin is far above the
# binomial noise of 32 questions at the SFT+RL accuracy (std ~0.08 at p = 0.4).
MARGIN = 0.15


def held_out_em(summary: dict[str, Any]) -> float:
    """avg@k EM of the (single) dataset in an eval summary."""
    (ds,) = summary.values()
    return float(next(iter(ds["metrics"]["em"].values())))


def run_default_with_warm_start(out: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """`atrain` on the cpu-default recipe (its `sft:` block: shipped eval, warm start, RL); EMs and timings."""
    import time

    from asearcher.config import load_config
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.train_loop import atrain

    t0 = time.perf_counter()
    config = load_config(TrainConfig, RECIPE, [f"out_dir={out}", *(overrides or [])])
    assert config.sft.enabled
    result = asyncio.run(atrain(config, progress=False))
    sft_stats = json.loads((result.run_dir / "sft" / "sft.json").read_text())
    return {"shipped_em": held_out_em(result.evals["shipped"]), "sft_em": held_out_em(result.evals["before"]),
            "sft_rl_em": held_out_em(result.evals["after"]), "sft": sft_stats, "steps": result.steps,
            "time/total_s": time.perf_counter() - t0, "run_dir": str(result.run_dir)}


@pytest.mark.slow
def test_default_run_beats_the_shipped_model_on_held_out_questions(tmp_path, bm25_index_dir):
    from asearcher.engines.embedded import embedded_model_path
    from asearcher.errors import UserError

    try:
        embedded_model_path()
    except UserError as e:
        pytest.skip(str(e))
    res = run_default_with_warm_start(tmp_path)
    assert res["sft"]["kept"] > 0
    assert res["sft_rl_em"] >= res["shipped_em"] + MARGIN, res
