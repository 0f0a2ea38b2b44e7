"""The library call behind `asearcher ask`, on the real default BM25 index of the embedded corpus,
with a ScriptedEngine (a fake LLM: a real one would not reliably follow the script)."""

import io

import pytest

from asearcher.agent.ask import AskConfig, aask, run_ask
from asearcher.agent.config import AgentConfig
from asearcher.agent.trace import TracePrinter
from asearcher.api import StopReason, Trajectory
from asearcher.engines.scripted import ScriptedEngine
from asearcher.errors import UserError
from asearcher.tools import aclose_tools
from asearcher.tools.factory import make_tools


async def test_ask_on_default_index_prints_a_live_trace(bm25_index_dir):
    tools = make_tools(None)
    engine = ScriptedEngine([
        "<think>Find the painter.</think>\n<search>Mona Lisa painting</search>",
        "<think>The results name Leonardo da Vinci.</think>\n<access>https://en.wikipedia.org/wiki/Mona_Lisa</access>",
        "<think>The page confirms it.</think>\n<answer>Leonardo da Vinci</answer>",
    ])
    out = io.StringIO()
    try:
        traj = await aask("Who painted the Mona Lisa?", engine, tools, AgentConfig(max_turns=6), TracePrinter(out))
    finally:
        await aclose_tools(tools)
    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert any("Mona Lisa" in t for t in [h["title"] for h in traj.turns[0].data["hits"]])
    assert traj.turns[1].data["tool_ok"] is True and traj.turns[1].data["chunk_index"] == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("question: Who painted the Mona Lisa?")
    assert "[1] search: Mona Lisa painting" in lines
    assert any(line.startswith("    hits: ") and "Mona Lisa" in line for line in lines)
    assert any(line.startswith("[2] access: https://en.wikipedia.org/wiki/Mona_Lisa (chunk 1/") for line in lines)
    assert "[3] think: The page confirms it." in lines
    assert "answer: Leonardo da Vinci" in lines
    # the JSON record round-trips
    assert Trajectory.from_json(traj.to_json()).turns[0].argument == "Mona Lisa painting"


def test_run_ask_names_a_bad_retriever(tmp_path):
    with pytest.raises(UserError, match="no-such-index"):
        run_ask("Q?", model=str(tmp_path / "model"), retriever=str(tmp_path / "no-such-index"))


def test_run_ask_names_a_bad_model_path(tmp_path, bm25_index_dir):
    with pytest.raises(UserError, match="no-such-model"):
        run_ask("Q?", model=str(tmp_path / "no-such-model"), retriever=str(bm25_index_dir))


def test_ask_config_overrides_reach_the_agent():
    from asearcher.cli.ask import _qualified
    from asearcher.config import load_config

    config = load_config(AskConfig, None, _qualified(["temperature=0", "tools.topk=3", "kind=reasoning"]))
    assert (config.agent.temperature, config.tools.topk, config.agent.kind) == (0.0, 3, "reasoning")
    with pytest.raises(UserError, match="agent.nope"):
        load_config(AskConfig, None, _qualified(["nope=1"]))
