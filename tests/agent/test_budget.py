"""The agent's budget is clipped to the engine's context length (one warning), and an engine that
refuses a request for its length ends the episode with stop reason context_limit, turns kept."""

import logging

from asearcher.agent.base import BaseAgent
from asearcher.agent.budget import afit_to_engine, fit_to_context
from asearcher.agent.config import AgentConfig
from asearcher.agent.reasoning import ReasoningAgent
from asearcher.api import StopReason
from asearcher.engines.scripted import ScriptedEngine


def test_budget_above_the_window_is_clipped_with_what_changed():
    fitted, said = fit_to_context(AgentConfig(max_context_tokens=8192, max_new_tokens_per_turn=512,
                                              force_answer_margin=192), 2048)
    assert (fitted.max_context_tokens, fitted.max_new_tokens_per_turn, fitted.force_answer_margin) == (2048, 512, 192)
    assert said == ["agent.max_context_tokens=8192 -> 2048"]
    # A window so small that the per-turn output and the margin would leave no room for a prompt.
    fitted, said = fit_to_context(AgentConfig(max_context_tokens=8192, max_new_tokens_per_turn=512,
                                              force_answer_margin=192), 300)
    assert (fitted.max_context_tokens, fitted.max_new_tokens_per_turn, fitted.force_answer_margin) == (300, 150, 75)
    assert len(said) == 3
    fitted.validate()  # still a valid config


def test_budget_within_the_window_or_unknown_window_is_kept():
    config = AgentConfig(max_context_tokens=2048)
    assert fit_to_context(config, 2048) == (config, [])
    assert fit_to_context(config, None) == (config, [])


async def test_fit_to_engine_warns_once(caplog):
    engine = ScriptedEngine([], context_length=1024)
    with caplog.at_level(logging.WARNING):
        fitted = await afit_to_engine(AgentConfig(max_context_tokens=8192), engine)
        again = await afit_to_engine(fitted, engine)
    assert fitted.max_context_tokens == again.max_context_tokens == 1024
    warnings = [r for r in caplog.records if "clipping the agent's budget" in r.getMessage()]
    assert len(warnings) == 1 and "8192 -> 1024" in warnings[0].getMessage()


async def test_base_agent_stops_with_context_limit_and_keeps_its_turns():
    # Turn 1 searches (the tool is missing: an observation); the engine's window is just above turn
    # 1's request, so turn 2's no longer fits, while the agent believes it has 4096 tokens.
    def first(request):
        engine.context_length = len(request.input_ids) + request.max_new_tokens + 8
        return "<search>mona lisa</search>"

    engine = ScriptedEngine([first, "<answer>x</answer>"])
    agent = BaseAgent(engine, {}, AgentConfig(max_context_tokens=4096, max_new_tokens_per_turn=64, max_turns=4))
    traj = await agent.arun("Who painted the Mona Lisa?", qid="q1")
    assert traj is not None
    assert traj.stop_reason is StopReason.CONTEXT_LIMIT and traj.answer is None
    assert len(traj.turns) == 1 and traj.turns[0].action == "search"
    assert f"maximum context length is {engine.context_length}" in traj.metadata["error"]


async def test_reasoning_agent_stops_with_context_limit():
    engine = ScriptedEngine(["<answer>x</answer>"], context_length=50)
    agent = ReasoningAgent(engine, {}, AgentConfig(kind="reasoning", max_context_tokens=4096, max_turns=2))
    traj = await agent.arun("Who painted the Mona Lisa?", qid="q1")
    assert traj is not None and traj.stop_reason is StopReason.CONTEXT_LIMIT and traj.answer is None


def test_default_budgets_count_as_their_values():
    # 0 means the agent's default (8192 context, 512 per turn): a 2048 window must still clip it
    fitted, said = fit_to_context(AgentConfig(kind="base"), 2048)
    assert fitted.context_limit() == 2048 and fitted.new_tokens_limit() == 512
    assert said == ["agent.max_context_tokens=8192 -> 2048"]
    fitted, said = fit_to_context(AgentConfig(kind="base"), 600)
    assert (fitted.context_limit(), fitted.new_tokens_limit()) == (600, 300)
    assert said[1] == "agent.max_new_tokens_per_turn=512 -> 300"
    # reasoning's default per-turn output is the context left: bounded by the clipped context already
    fitted, said = fit_to_context(AgentConfig(kind="reasoning"), 4096)
    assert fitted.context_limit() == 4096 and fitted.max_new_tokens_per_turn == 0
    assert said == ["agent.max_context_tokens=31000 -> 4096"]
    fitted.validate()
