"""Fitting an agent's token budget to the engine it runs on.

An engine states how many tokens one request may hold (`acontext_length`); an agent budget above
it would only end in the server refusing the request mid-episode. `afit_to_engine` clips the budget
once per run, with one warning saying what changed and why.
"""

from __future__ import annotations

import dataclasses
import logging

from asearcher.agent.config import AgentConfig
from asearcher.api import InferenceEngine
from asearcher.engines.limits import aengine_context_length

log = logging.getLogger(__name__)


def fit_to_context(config: AgentConfig, limit: int | None) -> tuple[AgentConfig, list[str]]:
    """`config` with its budgets clipped to a context of `limit` tokens, and what was changed.

    The whole context (`max_context_tokens`) becomes at most `limit`; a per-turn output or an answer
    margin that would then leave no room for the prompt is cut to half (resp. a quarter) of it. The
    budgets compared are the effective ones: 0 ("the agent's default", e.g. 8192) counts as that default.

    >>> fit_to_context(AgentConfig(max_context_tokens=8192), 2048)[0].max_context_tokens
    2048
    >>> fit_to_context(AgentConfig(), 2048)[1]  # the defaults: 8192 tokens, 512 per turn
    ['agent.max_context_tokens=8192 -> 2048']
    """
    if limit is None or config.context_limit() <= limit:
        return config, []
    # reasoning's default per-turn output (0) is "the context left", which the clipped context bounds itself
    per_turn = config.new_tokens_limit() if config.max_new_tokens_per_turn or config.kind != "reasoning" else 0
    before = {"max_context_tokens": config.context_limit(), "max_new_tokens_per_turn": per_turn,
              "force_answer_margin": config.force_answer_margin}
    changes = {"max_context_tokens": limit}
    if per_turn > limit // 2:
        changes["max_new_tokens_per_turn"] = max(1, limit // 2)
    if config.force_answer_margin >= limit // 2:
        changes["force_answer_margin"] = limit // 4
    said = [f"agent.{k}={before[k]} -> {v}" for k, v in changes.items()]
    return dataclasses.replace(config, **changes), said


async def afit_to_engine(config: AgentConfig, engine: InferenceEngine) -> AgentConfig:
    """`config` clipped to `engine`'s context length (unchanged when the engine does not tell);
    logs one warning when anything changed."""
    limit = await aengine_context_length(engine)
    fitted, said = fit_to_context(config, limit)
    if said:
        log.warning("the engine %r holds %d tokens per request; clipping the agent's budget: %s",
                    engine, limit, ", ".join(said))
    return fitted


class EngineFit:
    """One agent config fitted to one engine, for callers that make agents synchronously (training's
    agent factories are built before any event loop runs): `await afit()` once before the first
    episode, then every agent reads `config`. Fitting again is a no-op, so the warning comes once.
    """

    def __init__(self, config: AgentConfig, engine: InferenceEngine) -> None:
        self._given = config
        self._engine = engine
        self._fitted: AgentConfig | None = None

    async def afit(self) -> AgentConfig:
        """Clip the config to the engine's context window (the first call asks the engine)."""
        if self._fitted is None:
            self._fitted = await afit_to_engine(self._given, self._engine)
        return self._fitted

    @property
    def config(self) -> AgentConfig:
        """The fitted config; reading it before `afit()` is a bug in the wiring (an agent would run with
        a budget the engine may refuse), so it raises."""
        if self._fitted is None:
            raise RuntimeError("EngineFit.config read before afit(): fit the agent's budget to the engine first")
        return self._fitted
