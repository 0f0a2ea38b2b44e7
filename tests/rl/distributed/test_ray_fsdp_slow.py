"""`cluster.backend=ray` with two trainer workers: the FSDP2 trainer sharded over two Ray actors (gloo, float32)
next to one engine actor and the rollout actor, on a private CPU Ray with a tiny random HF model and the
real agent, tools and embedded corpus. Checks: every step's batch was trained within the staleness bound,
rank 0 published the gathered weights to the engine (its held-out outputs after training carry the final
version and equal a recomputation with the final checkpoint, which the sharded trainer wrote: AdamW state
keyed by parameter name), and a resumed run loads that checkpoint into both shards, continues from it and
publishes the resumed weights."""

from __future__ import annotations

import json

import pytest
import torch
from ray_run_checks import ETA, TINY_RUN, assert_engines_serve_final_checkpoint  # this folder is on sys.path
from safetensors.torch import load_file

from asearcher.config import load_config
from asearcher.rl.config import TrainConfig
from asearcher.rl.launch import atrain
from asearcher.rl.run.metrics import read_metrics
from asearcher.rl.train.checkpoint import checkpoint_dirs
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)

pytest.importorskip("ray")

pytestmark = pytest.mark.slow

TINY = [*TINY_RUN, "trainer_dtype=float32", "cluster.engines=1", "cluster.trainer_workers=2", "cluster.engine_cpus=0.5",
                   "cluster.trainer_cpus=0.5", "cluster.rollout_cpus=0.5"]


def _flat(path) -> torch.Tensor:
    """All tensors of a safetensors file, by name, as one float vector."""
    t = load_file(str(path))
    return torch.cat([t[k].float().flatten() for k in sorted(t)])


async def test_two_fsdp_trainer_actors_train_sync_the_engine_and_resume(tmp_path, bm25_index_dir):
    model_dir = tiny_hf_folder(tmp_path / "tiny", max_positions=8192)  # holds the budget (clipped to the window)
    config = load_config(TrainConfig, None, [f"model={model_dir}", f"out_dir={tmp_path}", *TINY])
    run = tmp_path / "run"
    result = await atrain(config, run, progress=False)

    assert result.steps == 3 and result.version == 3
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["lag/max"] <= ETA for r in rows)  # no trained token older than eta versions
    assert all("loss/loss" in r and "time/sync_s" in r for r in rows)
    # (one engine: a step's batch may have been generated entirely during the previous step, so a row's
    # gen/tokens can be 0; the run as a whole generated)
    assert sum(r["gen/tokens"] for r in rows) > 0
    assert sorted(p.name for p in (run / "weights").iterdir()) == ["v3"]  # rank 0 published, old versions pruned

    # the sharded trainer wrote the checkpoints (the single-process trainer keys AdamW state by index)
    last = checkpoint_dirs(run)[-1]
    optim = torch.load(last / "optimizer.pt", weights_only=False)
    assert optim["state"] and all(isinstance(k, str) for k in optim["state"])
    assert "model.layers.0.self_attn.q_proj.weight" in optim["state"]

    change = assert_engines_serve_final_checkpoint(run, model_dir, 3)
    assert change > 1e-3  # same context (the question's prompt), new weights

    # resume: both ranks load the step-3 checkpoint (rank 0 reads, the shards get their slices) and training
    # continues to step 4; rank 0 publishes the resumed trainer's weights (the engine loads them)
    config.total_steps = 4
    resumed = await atrain(config, run, resume=True, progress=False)
    assert resumed.steps == 4 and resumed.version == 4
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[-1]["lag/max"] <= ETA
    ck3, ck4 = checkpoint_dirs(run)[-2:]
    state = json.loads((ck4 / "state.json").read_text())
    assert state["step"] == state["version"] == 4
    assert sorted(p.name for p in (run / "weights").iterdir()) == ["v4"]
    w3, w4 = _flat(ck3 / "model.safetensors"), _flat(ck4 / "model.safetensors")
    assert torch.equal(_flat(run / "weights" / "v4" / "model.safetensors"), w4)
    # step 4 started from step 3's weights, not from the initial ones (weight decay shrinks ~2% a step)
    w0 = _flat(model_dir / "model.safetensors")
    assert (w4 - w3).norm() < 0.5 * (w4 - w0).norm()
    print(f"\nray + FSDP2 (2 trainer actors): lag/max per step {[r['lag/max'] for r in rows]}, first-token "
          f"logprob change {change:.4f}")
