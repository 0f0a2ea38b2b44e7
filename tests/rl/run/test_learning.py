"""The CPU default learns, and RL is part of it (3 seeds; the issues' acceptance):

- held-out EM after the default run (SFT warm start + RL) beats the shipped model's by far more than
  the seed-to-seed spread;
- RL adds at least `RL_MARGIN` held-out EM over the SFT warm start, mean of 3 seeds, and that mean
  gain exceeds 2 standard deviations of the per-seed gains.

Runs the cpu-default recipe end to end through `atrain` on the embedded model and corpus, once per
seed: the shipped model's held-out EM (the "before training" baseline), the SFT warm start on
scripted expert episodes (rl/train/expert.py, rl/train/sft.py, rl/run/sft_stage.py), then RL from the SFT weights
(its "before" eval = SFT only, its "after" eval = SFT + RL). About 10 minutes per seed on 2 quiet
cores (docs/cpu-default.md), hence `slow`. Set ASEARCHER_LEARNING_OUT=<file.json> to keep the
per-seed results and their mean / std (docs/cpu-default.md reports them); ASEARCHER_LEARNING_DIR=<dir> keeps
the runs in <dir>/seed<N>/ and resumes any run an interrupted test left there; ASEARCHER_LEARNING_JOBS=2 runs
seeds at once in separate processes (each run peaks at ~9-11 GB RSS on CPU, so mind the RAM).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

RECIPE = Path(__file__).resolve().parents[3] / "src" / "asearcher" / "recipes" / "cpu-default.yaml"
# Measured: the shipped model scores 0/16 (it never emits an action); the margin is far above the
# binomial noise of 32 questions at the SFT+RL accuracy (std ~0.08 at p = 0.4).
MARGIN = 0.15
RL_MARGIN = 0.05  # issue 15: RL >= 5 points over SFT on the fact task (docs/cpu-default.md)
SEEDS = (0, 1, 2)


def held_out_em(summary: dict[str, Any]) -> float:
    """avg@k EM of the (single) dataset in an eval summary."""
    (ds,) = summary.values()
    return float(next(iter(ds["metrics"]["em"].values())))


def seed_overrides(seed: int) -> list[str]:
    """Every seed of a run: python/torch, episode sampling, the engine's sampler, data and SFT shuffles."""
    return [f"{k}={seed}" for k in ("seed", "rollout.seed", "engine.seed", "data.seed", "sft.seed")]


def mean_std(xs: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1)."""
    m = sum(xs) / len(xs)
    return m, (sum((x - m) ** 2 for x in xs) / max(len(xs) - 1, 1)) ** 0.5


def run_default_with_warm_start(out: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """`atrain` on the cpu-default recipe (its `sft:` block: shipped eval, warm start, RL); EMs and timings."""
    import time

    from asearcher.config import load_config
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.launch import atrain

    t0 = time.perf_counter()
    config = load_config(TrainConfig, RECIPE, [f"out_dir={out}", *(overrides or [])])
    assert config.sft.enabled
    # A run folder left in `out` by an interrupted test is resumed (its finished stages are reused), as
    # `asearcher train --resume` does; a finished one only repeats its greedy "after" eval.
    earlier = sorted(Path(out).glob(f"{config.name}-*"))
    run_dir = earlier[-1] if earlier else None
    result = asyncio.run(atrain(config, run_dir, resume=run_dir is not None, progress=False))
    sft_stats = json.loads((result.run_dir / "sft" / "sft.json").read_text())
    return {"shipped_em": held_out_em(result.evals["shipped"]), "sft_em": held_out_em(result.evals["before"]),
            "sft_rl_em": held_out_em(result.evals["after"]), "sft": sft_stats, "steps": result.steps,
            "time/total_s": time.perf_counter() - t0, "run_dir": str(result.run_dir)}


def _one_seed(out: str, seed: int, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    return run_default_with_warm_start(Path(out), seed_overrides(seed))


def run_seeds(base: Path, jobs: int) -> list[dict[str, Any]]:
    """One default run per seed, in order; with `jobs` > 1 that many at once in fresh processes, each with
    its share of the cores (each run is seeded on its own; fewer threads may still change float sums in
    the last bits, so compare parallel and sequential results as runs, not bit for bit)."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if jobs <= 1:
        return [run_default_with_warm_start(base / f"seed{s}", seed_overrides(s)) for s in SEEDS]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # a fresh process per seed: a finished run's ~10 GB peak is not carried into the next one
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = [pool.submit(_one_seed, str(base / f"seed{s}"), s, threads) for s in SEEDS]
        return [f.result() for f in futures]


@pytest.mark.slow
@pytest.mark.timeout(3 * 3600)
def test_default_run_beats_the_shipped_model_and_rl_beats_sft_on_held_out_questions(tmp_path, bm25_index_dir):
    import os

    from asearcher import malloc_tuning
    from asearcher.engines.embedded import embedded_model_path
    from asearcher.errors import UserError

    try:
        embedded_model_path()
    except UserError as e:
        pytest.skip(str(e))
    malloc_tuning.tune()  # as the CLI does
    base = Path(os.environ.get("ASEARCHER_LEARNING_DIR") or tmp_path)
    runs = run_seeds(base, int(os.environ.get("ASEARCHER_LEARNING_JOBS", "1")))
    assert all(r["sft"]["kept"] > 0 for r in runs)
    for r in runs:
        r["rl_gain"] = r["sft_rl_em"] - r["sft_em"]
    stats = {k: mean_std([r[k] for r in runs]) for k in ("shipped_em", "sft_em", "sft_rl_em", "rl_gain")}
    summary = {"seeds": list(SEEDS), "runs": runs, "mean_std": stats}
    if os.environ.get("ASEARCHER_LEARNING_OUT"):
        Path(os.environ["ASEARCHER_LEARNING_OUT"]).write_text(json.dumps(summary, indent=1, default=str))
    gain = stats["sft_rl_em"][0] - stats["shipped_em"][0]
    spread = max(stats["sft_rl_em"][1], stats["shipped_em"][1])
    # "By far more than the seed-to-seed spread": the mean gain exceeds a fixed margin and 3 std.
    assert gain >= MARGIN and gain > 3 * spread, summary
    assert all(r["sft_rl_em"] > r["shipped_em"] for r in runs), summary
    rl_gain, rl_std = stats["rl_gain"]
    assert rl_gain >= RL_MARGIN and rl_gain > 2 * rl_std, summary
