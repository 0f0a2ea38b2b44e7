"""The library call behind `asearcher ask`: build an engine and tools, run one agent episode, save it.

    trajectory = run_ask("Who painted the Mona Lisa?", config=AskConfig(), trace=TracePrinter())

With no model and no retriever it uses the embedded SmolLM2 model and the embedded Wikipedia
corpus's BM25 index (built on first use).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from asearcher.agent.config import AgentConfig
from asearcher.agent.factory import make_agent
from asearcher.agent.trace import Trace
from asearcher.api import InferenceEngine, Tool, Trajectory
from asearcher.config import cfg
from asearcher.engines.config import EngineConfig
from asearcher.errors import UserError
from asearcher.tools import ToolsConfig, aclose_tools

log = logging.getLogger(__name__)

# `asearcher ask` without --model runs SmolLM2-135M on CPU: settings it can follow, and that finish in
# about a minute on 2 cores (measured: 5 episodes of 4 turns in ~60 s under heavy contention). They
# apply before the --config file and key=value overrides, which win.
EMBEDDED_ASK_DEFAULTS = {
    "agent.max_turns": "6",
    "agent.max_new_tokens_per_turn": "96",
    "agent.temperature": "0",
    "agent.max_context_tokens": "2048",  # llama.cpp's 8192-token context split over its 4 slots
    "agent.max_observation_tokens": "512",
    "agent.prefill_first_action": "true",  # without it the model rarely starts with <search> (prompts.py)
    # One llama.cpp thread: with all cores its threads spin-wait on each other whenever the cores are
    # shared, measured 2.6-3.5 tok/s with 2 threads against 23-43 tok/s with 1 on 2 busy cores.
    "engine.n_threads": "1",
}


@dataclass
class AskConfig:
    """Settings of one `asearcher ask` run (override as agent.KEY=..., tools.KEY=..., engine.KEY=...)."""

    agent: AgentConfig = cfg(AgentConfig(), "The agent loop.")
    tools: ToolsConfig = cfg(ToolsConfig(), "The search and access tools.")
    engine: EngineConfig = cfg(EngineConfig(), "The inference engine.")


async def aask(
    question: str, engine: InferenceEngine, tools: dict[str, Tool], config: AgentConfig, trace: Trace | None = None
) -> Trajectory:
    """Run one episode of the agent `config.kind` on `question`."""
    agent = make_agent(config.kind, engine, tools, config, trace)
    trajectory = await agent.arun(question, qid="ask")
    if trajectory is None:
        raise UserError("the inference engine aborted the episode (was the server shut down?)")
    return trajectory


async def _aask_built(question: str, model: str | None, retriever: str | None, config: AskConfig,
                      trace: Trace | None) -> Trajectory:
    from asearcher.engines.factory import make_engine
    from asearcher.tools.factory import make_tools

    tools = make_tools(retriever, config.tools)
    try:
        engine = make_engine(model, config=config.engine)
        try:
            return await aask(question, engine, tools, config.agent, trace)
        finally:
            close = getattr(engine, "aclose", None)
            if callable(close):
                await close()
    finally:
        await aclose_tools(tools)


def run_ask(
    question: str, *, model: str | None = None, retriever: str | None = None, config: AskConfig | None = None,
    trace: Trace | None = None, json_path: Path | None = None,
) -> Trajectory:
    """Answer `question` with the model and retriever named (None: the embedded ones); optionally save
    the whole trajectory as JSON at `json_path`."""
    from asearcher.engines.factory import check_engine_spec

    if not question.strip():
        raise UserError("the question is empty")
    config = config or AskConfig()
    # Before the tools: building them may build the default index (minutes on a fresh machine),
    # and a mistyped --model should fail at once.
    check_engine_spec(model, config.engine)
    trajectory = asyncio.run(_aask_built(question, model, retriever, config, trace))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(trajectory.to_json() + "\n")
        log.info("trajectory saved to %s", json_path)
    return trajectory
