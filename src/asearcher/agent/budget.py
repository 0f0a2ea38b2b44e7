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
    margin that would then leave no room for the prompt is cut to half (resp. a quarter) of it.

    >>> fit_to_context(AgentConfig(max_context_tokens=8192), 2048)[0].max_context_tokens
    2048
    """
    if limit is None or config.max_context_tokens <= limit:
        return config, []
    changes = {"max_context_tokens": limit}
    if config.max_new_tokens_per_turn > limit // 2:
        changes["max_new_tokens_per_turn"] = max(1, limit // 2)
    if config.force_answer_margin >= limit // 2:
        changes["force_answer_margin"] = limit // 4
    said = [f"agent.{k}={getattr(config, k)} -> {v}" for k, v in changes.items()]
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
