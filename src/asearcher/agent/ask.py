"""The library call behind `asearcher ask`: build an engine and tools, run one agent episode, save it.

    trajectory = run_ask("Who painted the Mona Lisa?", config=AskConfig(), trace=TracePrinter())

With no model and no retriever it uses the embedded SmolLM2 model and the embedded Wikipedia
corpus's BM25 index (built on first use).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher.agent.budget import afit_to_engine
from asearcher.agent.config import AgentConfig
from asearcher.agent.factory import make_agent
from asearcher.agent.trace import Trace
from asearcher.api import InferenceEngine, Tool, Trajectory
from asearcher.config import cfg
from asearcher.engines.config import EngineConfig
from asearcher.engines.llamacpp_server import slot_context
from asearcher.errors import UserError
from asearcher.failures import acapped, classify
from asearcher.redact import redact
from asearcher.tools import ToolsConfig, aclose_tools

log = logging.getLogger(__name__)

# `asearcher ask` and `asearcher eval` without --model run SmolLM2-135M on CPU: settings it can follow,
# and that finish in about a minute on 2 cores (measured: 5 episodes of 4 turns in ~60 s under heavy
# contention). They apply before the --config file and key=value overrides, which win.
EMBEDDED_DEFAULTS = {
    "agent.max_turns": "6",
    "agent.max_new_tokens_per_turn": "96",
    "agent.temperature": "0",
    # One llama.cpp slot's context: engine.n_ctx (8192) split over engine.n_parallel (4) slots.
    "agent.max_context_tokens": str(slot_context(EngineConfig())),
    "agent.max_observation_tokens": "512",
    # ASearcher's page reading shows a page in parts of 25,000 characters, one notes turn each: far
    # past a 2,048-token slot and the 6 turns, so the small model reads hits' text instead.
    "agent.read_pages": "false",
    "agent.prefill_first_action": "true",  # without it the model rarely starts with <search> (prompts.py)
    # One llama.cpp thread: with all cores its threads spin-wait on each other whenever the cores are
    # shared, measured 2.6-3.5 tok/s with 2 threads against 23-43 tok/s with 1 on 2 busy cores.
    "engine.n_threads": "1",
}
EMBEDDED_ASK_DEFAULTS = EMBEDDED_DEFAULTS  # the name `asearcher ask` used first


def embedded_defaults(config_file: Path | None, defaults: dict[str, str] | None = None) -> list[str]:
    """The embedded model's defaults (`defaults`, else EMBEDDED_DEFAULTS) as key=value overrides, less
    the keys the --config file sets (the file wins)."""
    import yaml

    loaded = yaml.safe_load(config_file.read_text()) if config_file is not None and config_file.is_file() else None

    def in_file(key: str) -> bool:
        node: Any = loaded
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    chosen = EMBEDDED_DEFAULTS if defaults is None else defaults
    return [f"{k}={v}" for k, v in chosen.items() if not in_file(k)]


@dataclass
class AskConfig:
    """Settings of one `asearcher ask` run (override as agent.KEY=..., tools.KEY=..., engine.KEY=...)."""

    agent: AgentConfig = cfg(AgentConfig(), "The agent loop.")
    tools: ToolsConfig = cfg(ToolsConfig(), "The search and access tools.")
    engine: EngineConfig = cfg(EngineConfig(), "The inference engine.")
    episode_timeout_s: float = cfg(
        0.0, "Wall-clock cap of the episode in seconds (0: none); past it the episode stops with reason 'timeout'.")


async def aask(
    question: str, engine: InferenceEngine, tools: dict[str, Tool], config: AgentConfig, trace: Trace | None = None,
    episode_timeout_s: float = 0.0, summary_engine: InferenceEngine | None = None,
) -> Trajectory:
    """Run one episode of the agent `config.kind` on `question`, its budget fitted to the engine
    (`summary_engine`: an external model writing the notes on page parts; agent/summary.py).

    When the world fails the episode (a server down or refusing, the wall-clock cap reached) the
    trajectory holds no answer, the typed stop reason, and the failure under metadata["error"]."""
    agent = make_agent(config.kind, engine, tools, await afit_to_engine(config, engine), trace, summary_engine)
    try:
        trajectory = await acapped(agent.arun(question, qid="ask"), episode_timeout_s)
    except Exception as exc:  # deliberate fault tolerance: only the world's failures are kept
        failure = classify(exc)
        if failure is None:
            raise
        log.warning("the episode ended by %s: %s", failure.kind, failure.message)
        trajectory = Trajectory(qid="ask", question=question, stop_reason=failure.stop_reason, agent=config.kind,
                                metadata={"error": failure.to_dict()})
        if trace is not None:
            trace.end(trajectory)
    if trajectory is None:
        raise UserError("the inference engine aborted the episode (was the server shut down?)")
    return trajectory


async def _aask_built(question: str, model: str | None, retriever: str | None, config: AskConfig,
                      trace: Trace | None, summary_model: str | None = None) -> Trajectory:
    from asearcher.engines.factory import make_engine
    from asearcher.tools.factory import make_tools

    tools = make_tools(retriever, config.tools)
    opened: list[Any] = []
    try:
        engine = make_engine(model, config=config.engine)
        opened.append(engine)
        summary = None
        if summary_model is not None:  # a helper model, in chat mode (as eval's judge and aggregator)
            summary = make_engine(summary_model, config=EngineConfig(mode="chat"))
            opened.append(summary)
        return await aask(question, engine, tools, config.agent, trace, config.episode_timeout_s, summary)
    finally:
        for e in opened:
            if callable(close := getattr(e, "aclose", None)):
                await close()
        await aclose_tools(tools)


def run_ask(
    question: str, *, model: str | None = None, retriever: str | None = None, config: AskConfig | None = None,
    trace: Trace | None = None, json_path: Path | None = None, summary_model: str | None = None,
) -> Trajectory:
    """Answer `question` with the model and retriever named (None: the embedded ones); optionally save
    the whole trajectory as JSON at `json_path`. `summary_model` (path or URL): an external model that
    writes the notes on page parts instead of the policy (agent/summary.py)."""
    from asearcher.engines.factory import check_engine_spec

    if not question.strip():
        raise UserError("the question is empty")
    config = config or AskConfig()
    # Before the tools: building them may build the default index (minutes on a fresh machine),
    # and a mistyped --model should fail at once.
    check_engine_spec(model, config.engine)
    if summary_model is not None:
        from asearcher.agent.summary import check_summary_use

        check_summary_use(config.agent.kind, config.agent)
        check_engine_spec(summary_model, EngineConfig(mode="chat"))
    trajectory = asyncio.run(_aask_built(question, model, retriever, config, trace, summary_model))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(redact(trajectory.to_dict()), ensure_ascii=False) + "\n")
        log.info("trajectory saved to %s", json_path)
    return trajectory
