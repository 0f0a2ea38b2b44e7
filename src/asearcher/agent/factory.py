"""`make_agent`: the agent named by a kind string, wired to an engine and tools."""

from __future__ import annotations

import dataclasses

from asearcher.agent.config import DEFAULT_MAX_TURNS, AgentConfig
from asearcher.agent.trace import Trace
from asearcher.api import Agent, InferenceEngine, Tool
from asearcher.errors import UserError

KINDS = tuple(DEFAULT_MAX_TURNS)


def make_agent(
    kind: str, engine: InferenceEngine, tools: dict[str, Tool], config: AgentConfig | None = None,
    trace: Trace | None = None, summary_engine: InferenceEngine | None = None,
) -> Agent:
    """Build the agent of `kind` ("base", "reasoning", "search-r1", "fc"); `config.kind` is set to it.
    `summary_engine`: an external model that writes the notes on page parts (agent/summary.py); only
    the base and reasoning agents read pages with notes (UserError for the others)."""
    if kind not in KINDS:
        raise UserError(f"agent kind {kind!r} is not one of {list(KINDS)}")
    config = dataclasses.replace(config or AgentConfig(), kind=kind)
    if kind == "base":
        from asearcher.agent.base import BaseAgent

        return BaseAgent(engine, tools, config, trace, summary_engine)
    if kind == "search-r1":
        from asearcher.agent.search_r1 import SearchR1Agent

        return SearchR1Agent(engine, tools, config, trace, summary_engine)
    if kind == "reasoning":
        from asearcher.agent.reasoning import ReasoningAgent

        return ReasoningAgent(engine, tools, config, trace, summary_engine)
    from asearcher.agent.function_calling import FunctionCallingAgent
    from asearcher.agent.summary import make_summarizer

    make_summarizer(kind, summary_engine, config)  # refuses a summary engine: fc reads no pages with notes

    return FunctionCallingAgent(engine, tools, config, trace)
