"""Configuration of an evaluation run: the agent, engine and tools configs plus the grading options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asearcher.agent.config import AgentConfig
from asearcher.config import cfg
from asearcher.engines.config import EngineConfig
from asearcher.tools.config import ToolsConfig


@dataclass
class EvalConfig:
    """Everything `asearcher eval` passes on; override with agent.x=..., engine.x=..., tools.x=...

    Test-time scaling: `agent.min_actions_before_answer` forces a minimum number of tool calls
    (reasoning agent); `--k` runs K samples per question, reported as avg@k, pass@k and maj@k.
    """

    agent: AgentConfig = cfg(AgentConfig(), "The agent loop's settings.")
    engine: EngineConfig = cfg(EngineConfig(), "The policy model's engine settings.")
    tools: ToolsConfig = cfg(ToolsConfig(), "The search/access tools' settings.")
    metrics: Literal["asearcher", "squad"] = cfg(
        "asearcher", "Answer metrics: 'asearcher' (ASearcher's evaluation EM/F1/cover-EM, as in the paper's "
        "tables) or 'squad' (SQuAD/HotpotQA EM and F1, Search-R1's substring cover-EM); docs/metrics.md."
    )
    f1_mode: Literal["multiset", "set"] = cfg(
        "multiset", "F1 token counting with metrics=squad: 'multiset' (official SQuAD/HotpotQA) or 'set'."
    )
    judge_max_new_tokens: int = cfg(256, "Tokens the LLM judge may write (rationale and verdict).")
    fsync: bool = cfg(True, "fsync every result line (durable against power loss; ~1 ms per line).")
    episode_timeout_s: float = cfg(
        0.0, "Wall-clock cap of one episode in seconds (0: none); an episode past it ends with stop reason "
        "'timeout', scored 0, and the run goes on.")
