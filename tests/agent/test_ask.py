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
        "The page confirms it: Leonardo da Vinci.</think>",  # notes on the page's one part
        "\n<answer>Leonardo da Vinci</answer>",
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
    assert any(line.startswith("[3] read: https://en.wikipedia.org/wiki/Mona_Lisa (part 1/") for line in lines)
    assert "    notes: The page confirms it: Leonardo da Vinci." in lines
    assert "answer: Leonardo da Vinci" in lines
    # the JSON record round-trips
    assert Trajectory.from_json(traj.to_json()).turns[0].argument == "Mona Lisa painting"


def test_run_ask_names_a_bad_retriever(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"")  # passes the cheap model check (which runs first); never loaded
    with pytest.raises(UserError, match="no-such-index"):
        run_ask("Q?", model=str(model), retriever=str(tmp_path / "no-such-index"))


def test_run_ask_checks_the_model_before_building_tools(tmp_path, monkeypatch):
    # A fresh machine: no default index yet, which building the tools would have to build first.
    monkeypatch.setenv("ASEARCHER_HOME", str(tmp_path / "fresh-home"))

    def no_tools(*args, **kwargs):
        raise AssertionError("tools were built before the model spec was checked")

    monkeypatch.setattr("asearcher.tools.factory.make_tools", no_tools)
    with pytest.raises(UserError, match="nonexistent.*no such path"):
        run_ask("Q?", model="/nonexistent/model")
    with pytest.raises(UserError, match="has no host"):
        run_ask("Q?", model="http://")
    assert not (tmp_path / "fresh-home").exists()


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


def test_embedded_model_defaults_yield_to_the_config_file_and_overrides(tmp_path):
    from asearcher.cli.ask import _embedded_defaults, _qualified
    from asearcher.config import load_config

    config = load_config(AskConfig, None, _embedded_defaults(None))
    assert (config.agent.max_new_tokens_per_turn, config.agent.prefill_first_action, config.engine.n_threads) == (96, True, 1)
    yaml_file = tmp_path / "ask.yaml"
    yaml_file.write_text("agent:\n  max_turns: 9\n")
    config = load_config(AskConfig, yaml_file, _embedded_defaults(yaml_file) + _qualified(["temperature=0.5"]))
    assert (config.agent.max_turns, config.agent.temperature, config.agent.max_context_tokens) == (9, 0.5, 2048)


def test_trace_marks_a_malformed_action_that_ran_apart_from_an_invalid_turn():
    from asearcher.api import Turn

    out = io.StringIO()
    printer = TracePrinter(out)
    printer.turn(Turn(index=0, output="", action="search", argument="q", error="Invalid format: <search> is not closed"))
    printer.turn(Turn(index=1, output="", action="none", error="No action found."))
    assert out.getvalue().splitlines() == [
        "[1] search: q", "    format: Invalid format: <search> is not closed", "[2] invalid: No action found."
    ]
