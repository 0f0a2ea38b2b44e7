"""`torchrun --nproc-per-node 2 -m asearcher.cli train ...` on CPU (gloo): rank 0 runs the engine, executor and
orchestrator, rank 1 holds its FSDP2 shards and follows; both print rank 0's result. Checks the steps ran,
the engine received the trainer's weights (disk sync == the final checkpoint), and a torchrun --resume
continues from the sharded trainer's checkpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)

pytestmark = pytest.mark.slow

TINY = ["rollout.group_size=2", "rollout.batch_questions=1", "rollout.max_concurrent=4", "rollout.max_staleness=1",
        "data.limit=8", "filter.enabled=false", "checkpoint.every_steps=1", "trainer.lr=0.02",
        "trainer.weight_decay=1.0", "trainer.max_tokens_per_mb=4096", "agent.max_turns=2",
        "agent.max_new_tokens_per_turn=24", "agent.max_context_tokens=4096", "agent.max_observation_tokens=512",
        "tools.topk=2", "tools.max_chars_per_hit=80", "engine.max_batch_size=4", "eval.enabled=false",
        "weight_sync=disk", "sft.enabled=false"]


def _torchrun(args: list[str], timeout: int = 900) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
           "-m", "asearcher.cli", "train", "--no-progress", *args]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-8000:]
    return proc.stdout


def test_torchrun_train_two_ranks_and_resume(tmp_path, bm25_index_dir):
    model_dir = tiny_hf_folder(tmp_path / "tiny", max_positions=8192)  # holds the budget (clipped to the window)
    out = _torchrun([f"model={model_dir}", f"out_dir={tmp_path / 'runs'}", "name=fsdp", "total_steps=2", *TINY])
    lines = [ln for ln in out.splitlines() if "trained 2 steps (policy version 2)" in ln]
    assert len(lines) == 2, out  # both ranks return rank 0's result
    (run_dir,) = list((tmp_path / "runs").iterdir())  # rank 1 made no run folder of its own
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["version"] for r in rows] == [1, 2]
    ckpt = run_dir / "checkpoints" / "step-000002"
    weights = load_file(str(ckpt / "model.safetensors"))
    synced = load_file(str(run_dir / "weights" / "v2" / "model.safetensors"))
    assert set(weights) == set(synced)
    assert all((weights[k] == synced[k]).all() for k in weights)
    start = load_file(str(model_dir / "model.safetensors"))
    assert any(not (start[k] == weights[k]).all() for k in start)  # weight decay moved the weights
    assert json.loads((ckpt / "state.json").read_text())["version"] == 2

    out = _torchrun(["--resume", str(run_dir), "total_steps=3"])
    assert out.count("trained 3 steps (policy version 3)") == 2, out
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["version"] for r in rows] == [1, 2, 3]
    assert (run_dir / "checkpoints" / "step-000003" / "model.safetensors").is_file()
