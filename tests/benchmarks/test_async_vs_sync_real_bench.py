"""benchmarks/async_vs_sync_real.py: the bound's arithmetic against hand-computed values, the simulated tool
latency, and one step per eta of the real agent and trainer on a tiny random HF model."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from asearcher.api.tool import ToolResult
from bench_loader import load_benchmark  # this folder is on sys.path (no __init__.py)
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)


def load_bench():
    return load_benchmark("async_vs_sync_real")


def test_step_time_bound_by_hand():
    bench = load_bench()
    # training-bound: 30 + 1 = 31 s > 8 episodes x 20 s / 8 at a time = 20 s
    assert bench.step_time_bound(30.0, 1.0, 20.0, 8, 8) == pytest.approx(31.0)
    # generation-bound: 12 episodes x 10 s / 4 at a time = 30 s > 5 + 0.5 s
    assert bench.step_time_bound(5.0, 0.5, 10.0, 12, 4) == pytest.approx(30.0)
    with pytest.raises(ValueError):
        bench.step_time_bound(1.0, 0.0, 1.0, 8, 0)


def test_bound_report_by_hand():
    rows = [{"time/train_s": 10.0, "time/sync_s": 1.0, "gen/episodes": 8.0},
            {"time/train_s": 14.0, "time/sync_s": 3.0, "gen/episodes": 16.0}]
    # means: train 12, sync 2, B = 12 episodes per step; E = 6 s, 4 at a time -> 12 * 6 / 4 = 18 > 14
    rep = load_bench().bound_report(rows, episode_s=6.0, concurrency=4, loop_s=45.0)
    assert rep["inputs"] == {"T_train_s": 12.0, "T_sync_s": 2.0, "B": 12.0, "E_episode_s": 6.0, "concurrency": 4}
    assert rep["step_s"] == pytest.approx(18.0)
    assert rep["loop_s"] == pytest.approx(36.0)  # 2 steps
    assert rep["efficiency"] == pytest.approx(36.0 / 45.0)
    assert rep["formula"] == "max(T_train + T_sync, B * E_episode / concurrency)"


class EchoTool:
    name, description, parameters = "search", "echo", {}

    def __init__(self) -> None:
        self.forks = 0

    def for_episode(self) -> EchoTool:
        self.forks += 1
        return self

    async def acall(self, **kwargs) -> ToolResult:
        return ToolResult(text=str(kwargs))


def test_delayed_tool_waits_then_calls_the_tool():
    bench = load_bench()
    inner = EchoTool()
    shared = bench.DelayedTool(inner, 0.2)
    tool = shared.for_episode()
    assert inner.forks == 1 and tool.name == "search" and tool.description == "echo"
    start = time.perf_counter()
    result = asyncio.run(tool.acall(query="x"))
    assert time.perf_counter() - start >= 0.2
    assert result.text == "{'query': 'x'}"
    assert shared.calls == [1]  # a fork's calls count on the tool it came from


def test_the_real_agent_calls_the_delayed_real_tools():
    """The base agent on the embedded corpus's tools, wrapped: both actions go through the delay (a
    ScriptedEngine stands in for the model, so that it surely searches and reads)."""
    from asearcher.agent.base import BaseAgent
    from asearcher.agent.config import AgentConfig
    from asearcher.engines.scripted import ScriptedEngine
    from asearcher.tools.factory import make_tools

    bench = load_bench()
    tools = {name: bench.DelayedTool(tool, 0.1) for name, tool in make_tools(None).items()}
    engine = ScriptedEngine(["<search>Eiffel Tower</search>", "<access>https://en.wikipedia.org/wiki/Paris</access>",
                             "<answer>Paris</answer>"])
    start = time.perf_counter()
    traj = asyncio.run(BaseAgent(engine, tools, AgentConfig(max_turns=4)).arun("Where is the Eiffel Tower?", qid="q"))
    assert time.perf_counter() - start >= 0.2
    assert [t.action for t in traj.turns] == ["search", "access", "answer"] and traj.answer == "Paris"
    assert tools["search"].calls == [1] and tools["access"].calls == [1]
    assert "Eiffel" in traj.turns[0].observation  # the real BM25 search ran behind the delay


@pytest.mark.slow  # two tiny training runs with held-out evaluation: ~30-60 s on 2 cores
def test_one_step_per_eta_on_a_tiny_model(tmp_path):
    bench = load_bench()
    model = tiny_hf_folder(tmp_path / "tiny", max_positions=2048)
    # The random model never answers: every group's rewards are equal, so dynamic filtering would drop all.
    results = bench.main(["--model", str(model), "--steps", "1", "--etas", "0", "2", "--tool-latency", "0.05",
                          "--eval", "--eval-questions", "2", "--out", str(tmp_path / "out"),
                          "--json", str(tmp_path / "r.json"),
                          "--set", "filter.enabled=false", "agent.max_new_tokens_per_turn=8", "agent.max_turns=2"])
    assert [r["eta"] for r in results] == [0, 2]
    for r in results:
        assert r["steps"] == 1 and r["trained_samples"] == 8  # cpu-default: 2 questions x 4
        assert r["episodes_timed"] >= 8 and r["episode_s_mean"] > 0.0
        assert set(r["tool_calls"]) == {"search", "access"} and r["tool_latency_s"] == 0.05
        assert r["bound"]["inputs"]["concurrency"] == 8 and r["bound"]["inputs"]["B"] >= 8
        assert 0.0 < r["bound"]["efficiency"]
        assert 0.0 <= r["wait_frac"] <= 1.0
        assert r["em_before"] == results[0]["em_before"] is not None and r["em_after"] is not None
        assert not (Path(r["run_dir"]) / "checkpoints").exists()
    assert results[0]["speedup_vs_first"] == 1.0
    assert results[0]["efficiency_vs_first_bound"] == results[0]["bound"]["efficiency"]
    assert [r["eta"] for r in json.loads((tmp_path / "r.json").read_text())["results"]] == [0, 2]


@pytest.mark.parametrize("extra, message", [
    (["--set", "rollout.no_such_key=1"], "no_such_key"),
    (["--config", "no-such-recipe"], "no-such-recipe"),
    (["--steps", "0"], "must be > 0"),
])
def test_bad_arguments_are_refused(tmp_path, extra, message, capsys):
    model = tiny_hf_folder(tmp_path / "tiny")
    with pytest.raises(SystemExit) as exc:
        load_bench().parse_args(["--model", str(model), *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_a_model_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        load_bench().parse_args(["--model", str(tmp_path)])
    assert exc.value.code == 2
    assert "not an HF model folder" in capsys.readouterr().err
