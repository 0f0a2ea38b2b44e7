"""TrainLoop end to end on a tiny random model: metrics, staleness bound, engine/trainer agreement,
report, and checkpoint/resume equal to an uninterrupted run."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch
import train_fakes as F
from safetensors.torch import load_file

from asearcher.agent.prompts import prompt_record
from asearcher.rl.launch import atrain
from asearcher.rl.rollout.data import TrainData
from asearcher.rl.run.metrics import read_metrics
from asearcher.rl.train.checkpoint import checkpoint_dirs

REQUIRED = ["reward/mean", "acc/em", "acc/f1", "traj/turns", "traj/tool_calls", "gen/tokens", "lag/max", "lag/mean",
            "throughput/tokens_per_s", "time/wait_s", "time/train_s", "time/sync_s", "time/generating_s",
            "time/trainer_wait_frac", "loss/loss", "loss/grad_norm", "version"]


@pytest.mark.parametrize("sync", ["in_process", "disk"])
async def test_async_loop_logs_metrics_bounds_lag_and_engine_agrees_with_trainer(tmp_path, sync):
    c = F.tiny_config(tmp_path, max_staleness=1)
    c.weight_sync = sync
    c.data.epochs = 5
    c.checkpoint.keep_last = 2
    c.eval.enabled = True
    result = await atrain(c, tmp_path / "run", parts=F.tiny_parts(c), progress=False)
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3] and result.version == 3
    for r in rows:
        assert not set(REQUIRED) - set(r), set(REQUIRED) - set(r)
        assert r["lag/max"] <= 1  # eta = 1
    diffs = [r["logp_diff/mean_abs"] for r in rows if "logp_diff/mean_abs" in r]
    assert diffs and max(diffs) < 1e-4  # fp32 engine vs fp32 trainer on the same weights
    assert max(r["lag/max"] for r in rows) == 1  # the engine did run ahead of the trainer
    assert len(checkpoint_dirs(tmp_path / "run")) == 2  # keep_last
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Held-out evaluation" in report and (tmp_path / "run" / "reward.png").is_file()
    assert set(result.evals) == {"before", "after"}
    # the run records its prompt's name and text hash, as eval runs do, and the report shows it
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert {k: record[k] for k in ("prompt", "prompt_file", "prompt_sha256")} == prompt_record(c.agent)
    assert f"- **prompt sha256**: {record['prompt_sha256']}" in report
    # every trained trajectory, under its metrics row's step, for `asearcher ui`'s explorer
    logged = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert sorted({t["step"] for t in logged}) == [1, 2, 3]
    assert len(logged) == sum(r["batch/trajectories"] for r in rows)
    assert all(0 <= t["staleness"] <= 1 for t in logged)


def _final_weights(run_dir):
    return load_file(str(checkpoint_dirs(run_dir)[-1] / "model.safetensors"))


async def test_stopped_and_resumed_run_matches_uninterrupted_run(tmp_path):
    """eta = 0 and seeded sampling: 2 steps + resume for 2 more == 4 steps in one go."""
    c = F.tiny_config(tmp_path, max_staleness=0)
    c.total_steps, c.data.epochs = 4, 10
    await atrain(c, tmp_path / "a", parts=F.tiny_parts(c), progress=False)
    c.total_steps = 2
    await atrain(c, tmp_path / "b", parts=F.tiny_parts(c), progress=False)
    c.total_steps = 4
    await atrain(c, tmp_path / "b", resume=True, parts=F.tiny_parts(c), progress=False)
    a, b = read_metrics(tmp_path / "a" / "metrics.jsonl"), read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["reward/mean"] for r in a] == pytest.approx([r["reward/mean"] for r in b], abs=1e-6)
    assert all(r["lag/max"] == 0 for r in a + b)
    wa, wb = _final_weights(tmp_path / "a"), _final_weights(tmp_path / "b")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-4)


async def test_cancel_saves_a_checkpoint_and_resume_keeps_the_staleness_bound(tmp_path):
    c = F.tiny_config(tmp_path, max_staleness=1)
    c.total_steps, c.data.epochs, c.checkpoint.every_steps = 5, 10, 0
    run = tmp_path / "run"
    task = asyncio.create_task(atrain(c, run, parts=F.tiny_parts(c), progress=False))
    while not read_metrics(run / "metrics.jsonl"):
        await asyncio.sleep(0.05)
    task.cancel()  # what Ctrl-C does to asyncio.run's main task
    with pytest.raises(asyncio.CancelledError):
        await task
    (ckpt,) = checkpoint_dirs(run)
    state = json.loads((ckpt / "state.json").read_text())
    buffered = sum(1 for _ in (ckpt / "buffer.jsonl").open())
    ctrl = state["executor"]["controller"]
    assert ctrl["accepted"] - ctrl["consumed"] >= buffered  # buffered trajectories were all accepted
    result = await atrain(c, run, resume=True, parts=F.tiny_parts(c), progress=False)
    rows = read_metrics(run / "metrics.jsonl")
    steps = [r["step"] for r in rows]
    # a step interrupted after its update is trained and checkpointed, but its metrics line is lost
    assert result.steps == 5 and steps[-1] == 5 and steps == sorted(steps) and len(steps) >= 4
    assert all(r["lag/max"] <= 1 for r in rows)


class HungOnFirstQuestion(F.ToyAgent):
    """Question 0's engine request never answers (a hung server): a fake, for a deterministic hang."""

    async def arun(self, question, *, qid="", gold=None):
        if qid == "q0":
            await asyncio.Event().wait()
        return await super().arun(question, qid=qid, gold=gold)


async def test_episodes_past_the_cap_end_as_timeout_drops_in_metrics_and_the_run_finishes(tmp_path):
    c = F.tiny_config(tmp_path, max_staleness=0, batch_questions=1)
    # A cap far above a real episode here (6 tokens of a tiny model), so only the hung ones reach it, even on
    # a loaded machine.
    c.total_steps, c.data.epochs, c.rollout.episode_timeout_s = 3, 3, 3.0
    parts = F.tiny_parts(c)
    # q0 first: with eta = 0 and one group per batch only its group can start, so only the cap unblocks the run
    parts.data = TrainData(F.items(4), epochs=c.data.epochs, shuffle=False)
    parts.agent_factory = lambda s: HungOnFirstQuestion(parts.engine, s)
    result = await asyncio.wait_for(atrain(c, tmp_path / "run", parts=parts, progress=False), timeout=120)
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert result.steps == 3 and [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0]["drops/timeout"] == 2  # q0's whole group, counted in the step that followed it
    trained = [json.loads(line)["trajectory"]["qid"] for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert "q0" not in trained and trained
    total = int(sum(r.get("drops/timeout", 0) for r in rows))  # q0 again in later epochs, while the run lasted
    assert f"timeout: {total}" in (tmp_path / "run" / "report.md").read_text()  # the run's report counts them


async def test_prepare_runs_once_before_the_first_episode(tmp_path):
    """Where build_rollout_parts fits the agent's budget to the engine: before any agent is made."""
    c = F.tiny_config(tmp_path, max_staleness=0)
    c.total_steps = 1
    parts = F.tiny_parts(c)
    calls, make = [], parts.agent_factory

    async def prepare():
        calls.append("prepare")

    def factory(seed):
        calls.append("episode")
        return make(seed)

    parts.prepare, parts.agent_factory = [prepare], factory
    await atrain(c, tmp_path / "run", parts=parts, progress=False)
    assert calls[0] == "prepare" and calls.count("prepare") == 1 and "episode" in calls
