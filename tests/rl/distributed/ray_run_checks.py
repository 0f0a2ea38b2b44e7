"""Checks shared by the Ray launcher's slow tests: the engines serve the trainer's final weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from asearcher.api.trajectory import Trajectory
from asearcher.rl.train.checkpoint import checkpoint_dirs

# The tiny run both Ray slow tests share; each adds its cluster.* keys. A random model earns no reward
# (every advantage is 0, the policy-gradient step a no-op), so the AdamW weight decay (lr x weight_decay
# = 2% per step) is what moves every weight and makes the sync observable.
ETA = 1
TINY_RUN = ["total_steps=3", "rollout.group_size=2", "rollout.batch_questions=1", "rollout.max_concurrent=4",
            f"rollout.max_staleness={ETA}", "data.limit=8", "data.epochs=2", "filter.enabled=false",
            "checkpoint.every_steps=1", "trainer.lr=0.02", "trainer.weight_decay=1.0",
            "trainer.max_tokens_per_mb=8192", "agent.max_turns=2", "agent.max_new_tokens_per_turn=24",
            "agent.max_context_tokens=8192", "agent.max_observation_tokens=1024", "tools.topk=2",
            "tools.max_chars_per_hit=80", "engine.max_batch_size=4", "eval.questions=2", "eval.concurrency=2",
            "eval.temperature=0.0", "cluster.backend=ray", "cluster.num_cpus=2", "cluster.object_store_mb=200"]


def trajectories(eval_dir: Path) -> dict[str, Trajectory]:
    recs = [json.loads(line) for line in (eval_dir / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["qid"]: Trajectory.from_dict(r["trajectory"]) for r in recs if r.get("trajectory")}


def sampled_logprobs(traj: Trajectory) -> list[float]:
    return [lp for s in traj.segments for lp, m in zip(s.logprobs, s.loss_mask, strict=True) if m]


def recomputed_logprobs(model, traj: Trajectory) -> list[float]:
    """log_softmax(logits) (greedy evaluation reports T = 1) at each sampled token, from `model`."""
    out = []
    with torch.no_grad():
        for s in traj.segments:
            ids = torch.tensor([s.token_ids])
            logp = torch.log_softmax(model(ids).logits.float(), -1)[0]
            out += [float(logp[i - 1, t]) for i, (t, m) in enumerate(zip(s.token_ids, s.loss_mask, strict=True)) if m]
    return out


def assert_engines_serve_final_checkpoint(run: Path, model_dir: Path, version: int) -> float:
    """Held-out tokens after training carry `version` and equal a recomputation with the run's last
    checkpoint; before training they carried version 0. Returns the smallest change of a trajectory's
    first sampled logprob (same context: the question's prompt), which a caller asserts is non-zero."""
    from transformers import AutoModelForCausalLM

    before, after = trajectories(run / "eval_before"), trajectories(run / "eval_after")
    assert before.keys() == after.keys() and after
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    model.load_state_dict(load_file(str(checkpoint_dirs(run)[-1] / "model.safetensors")))
    changes = []
    for qid, traj in after.items():
        assert {v for s in traj.segments for v, m in zip(s.versions, s.loss_mask, strict=True) if m} == {version}
        assert sampled_logprobs(traj) == pytest.approx(recomputed_logprobs(model, traj), abs=1e-4)
        changes.append(abs(sampled_logprobs(traj)[0] - sampled_logprobs(before[qid])[0]))
    assert {v for t in before.values() for s in t.segments for v, m in zip(s.versions, s.loss_mask) if m} == {0}
    return min(changes)
