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
import torch
from safetensors.torch import load_file

from asearcher.api.trajectory import Trajectory
from asearcher.config import load_config
from asearcher.rl.checkpoint import checkpoint_dirs
from asearcher.rl.config import TrainConfig
from asearcher.rl.metrics import read_metrics
from asearcher.rl.train_loop import atrain
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)

pytest.importorskip("ray")

pytestmark = pytest.mark.slow

ETA = 1
# A random model earns no reward, so every advantage is 0 and the policy-gradient step is a no-op; the AdamW
# weight decay (lr x weight_decay = 2% per step) still moves every weight, which makes the sync observable.
TINY = ["total_steps=3", "rollout.group_size=2", "rollout.batch_questions=1", "rollout.max_concurrent=4",
        f"rollout.max_staleness={ETA}", "data.limit=8", "data.epochs=2", "filter.enabled=false",
        "checkpoint.every_steps=1", "trainer.lr=0.02", "trainer.weight_decay=1.0", "trainer.max_tokens_per_mb=8192",
        "agent.max_turns=2", "agent.max_new_tokens_per_turn=24", "agent.max_context_tokens=8192",
        "agent.max_observation_tokens=1024", "tools.topk=2", "tools.max_chars_per_hit=80", "engine.max_batch_size=4",
        "eval.questions=2", "eval.concurrency=2", "eval.temperature=0.0",
        "cluster.backend=ray", "cluster.engines=2", "cluster.engine_cpus=0.5", "cluster.trainer_cpus=0.5",
        "cluster.rollout_cpus=0.5", "cluster.num_cpus=2", "cluster.object_store_mb=200"]


def _trajectories(eval_dir):
    recs = [json.loads(line) for line in (eval_dir / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["qid"]: Trajectory.from_dict(r["trajectory"]) for r in recs if r.get("trajectory")}


def _sampled_logprobs(traj: Trajectory) -> list[float]:
    return [lp for s in traj.segments for lp, m in zip(s.logprobs, s.loss_mask, strict=True) if m]


def _recomputed_logprobs(model, traj: Trajectory) -> list[float]:
    """log_softmax(logits) (greedy evaluation reports T = 1) at each sampled token, from `model`."""
    out = []
    with torch.no_grad():
        for s in traj.segments:
            ids = torch.tensor([s.token_ids])
            logp = torch.log_softmax(model(ids).logits.float(), -1)[0]
            out += [float(logp[i - 1, t]) for i, (t, m) in enumerate(zip(s.token_ids, s.loss_mask, strict=True)) if m]
    return out


async def test_ray_run_bounds_staleness_syncs_engines_and_resumes(tmp_path, bm25_index_dir):
    from transformers import AutoModelForCausalLM

    model_dir = tiny_hf_folder(tmp_path / "tiny")
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
    before, after = _trajectories(run / "eval_before"), _trajectories(run / "eval_after")
    assert before.keys() == after.keys() and after
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    model.load_state_dict(load_file(str(checkpoint_dirs(run)[-1] / "model.safetensors")))
    changes = []
    for qid, traj in after.items():
        assert {v for s in traj.segments for v, m in zip(s.versions, s.loss_mask, strict=True) if m} == {3}
        assert _sampled_logprobs(traj) == pytest.approx(_recomputed_logprobs(model, traj), abs=1e-4)
        first_after, first_before = _sampled_logprobs(traj)[0], _sampled_logprobs(before[qid])[0]
        changes.append(abs(first_after - first_before))
    assert min(changes) > 1e-3  # same context (the question's prompt), new weights
    assert {v for t in before.values() for s in t.segments for v, m in zip(s.versions, s.loss_mask) if m} == {0}

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
          f"{[r['lag/max'] for r in rows]}; first-token logprob change {min(changes):.4f}; "
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
