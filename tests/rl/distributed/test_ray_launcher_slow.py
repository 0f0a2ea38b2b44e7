"""`cluster.backend=ray` on a private local CPU Ray: two engine actors, the trainer actor and the rollout actor
(executor + orchestrator) run the async loop on a tiny random HF model with the real agent, tools and
embedded corpus. Checks: the staleness bound held, the engines were synced (their held-out outputs after
training carry the final version and equal a recomputation with the trainer's final checkpoint, and differ
from the outputs before training), metrics, checkpoints and the report were written; then a resumed run
continues from the trainer actor's checkpoint (with a retrieval-server actor) until cancelled, which
checkpoints a consistent step."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from ray_run_checks import ETA, TINY_RUN, assert_engines_serve_final_checkpoint  # this folder is on sys.path

from asearcher.config import load_config
from asearcher.rl.config import TrainConfig
from asearcher.rl.launch import atrain
from asearcher.rl.run.metrics import read_metrics
from asearcher.rl.train.checkpoint import checkpoint_dirs
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)

pytest.importorskip("ray")

pytestmark = pytest.mark.slow

TINY = [*TINY_RUN, "cluster.engines=2", "cluster.engine_cpus=0.5", "cluster.trainer_cpus=0.5", "cluster.rollout_cpus=0.5"]


async def test_ray_run_bounds_staleness_syncs_engines_and_resumes(tmp_path, bm25_index_dir):
    model_dir = tiny_hf_folder(tmp_path / "tiny", max_positions=8192)  # holds the budget (clipped to the window)
    config = load_config(TrainConfig, None, [f"model={model_dir}", f"out_dir={tmp_path}", *TINY])
    run = tmp_path / "run"
    start = time.perf_counter()
    result = await atrain(config, run, progress=False)
    first_s = time.perf_counter() - start

    # whole loop ran: 3 steps, metrics and report written, a checkpoint per step (keep_last = 2)
    assert result.steps == 3 and result.version == 3
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["lag/max"] <= ETA for r in rows)  # no trained token older than eta versions
    assert all(r["gen/tokens"] > 0 and "loss/loss" in r and "time/sync_s" in r for r in rows)
    assert len(checkpoint_dirs(run)) == 2 and (run / "report.md").is_file() and (run / "reward.png").is_file()
    assert sorted(p.name for p in (run / "weights").iterdir()) == ["v3"]  # disk sync, old versions pruned

    # the engines serve the trainer's final weights: held-out tokens after training carry version 3 and
    # equal a recomputation with the final checkpoint; before training they differed (the outputs changed)
    change = assert_engines_serve_final_checkpoint(run, model_dir, 3)
    assert change > 1e-3  # same context (the question's prompt), new weights

    # resume: the trainer actor loads its checkpoint, the engines get its weights, training continues (this
    # time the embedded BM25 index is served by its own actor, the tools query it over HTTP); then Ctrl-C
    # (cancelling atrain, as asyncio.run does) checkpoints a consistent state: the trainer's step in flight
    # completes, so the checkpoint's step equals its policy version
    config.total_steps = 1000
    config.cluster.retrieval_server, config.cluster.retrieval_cpus, config.cluster.num_cpus = True, 0.5, 3
    start = time.perf_counter()
    task = asyncio.create_task(atrain(config, run, resume=True, progress=False))
    while len(read_metrics(run / "metrics.jsonl")) < 4:
        assert not task.done(), task
        await asyncio.sleep(0.2)
    resume_s = time.perf_counter() - start
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows][:4] == [1, 2, 3, 4] and all(r["lag/max"] <= ETA for r in rows)
    state = json.loads((checkpoint_dirs(run)[-1] / "state.json").read_text())
    assert state["step"] == state["version"] >= 4 and state["step"] >= rows[-1]["step"]
    print(f"\nray run: first 3 steps {first_s:.1f} s, resume to step 4 {resume_s:.1f} s; lag/max per step "
          f"{[r['lag/max'] for r in rows]}; first-token logprob change {change:.4f}; "
          f"cancelled at step {state['step']}")


async def test_a_cluster_too_small_for_the_plan_is_a_user_error_not_a_hang(tmp_path):
    import ray

    from asearcher.errors import UserError

    model_dir = tiny_hf_folder(tmp_path / "tiny")
    config = load_config(TrainConfig, None, [f"model={model_dir}", f"out_dir={tmp_path}", "cluster.backend=ray",
                                             "cluster.engines=4", "cluster.num_cpus=2", "cluster.object_store_mb=200"])
    with pytest.raises(UserError, match="2 CPUs .* needs 6 CPUs"):
        await atrain(config, tmp_path / "run", progress=False)
    assert not ray.is_initialized()  # the private Ray it started is shut down again
