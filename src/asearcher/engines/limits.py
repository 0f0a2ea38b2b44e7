"""Context windows: reading an engine's context length, and recognising a server's overflow reply.

Servers say "this request is too long" in their own words (HTTP 400 in every case checked); the
phrases below are matched case-insensitively so that the reply becomes a `ContextLimitError`
(the agent's `context_limit` stop) rather than a generic failure.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# Phrases of the servers' context-overflow errors, with who says them.
OVERFLOW_PHRASES = (
    "exceeds the available context size",  # llama.cpp: "request (2079 tokens) exceeds the available context size"
    "maximum context length",  # vLLM / OpenAI: "This model's maximum context length is 4096 tokens. However, ..."
    "context_length_exceeded",  # OpenAI's error code
    "longer than the maximum model length",  # vLLM V1: "... (N) is longer than the maximum model length of M"
    "longer than the model's context length",  # SGLang: "The input (N tokens) is longer than the model's ..."
)

# Fields of a /v1/models entry that give the context length: vLLM and SGLang (`max_model_len`),
# OpenRouter-style listings (`context_length`), others (`context_window`, `max_context_length`).
MODEL_LIST_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length")


def is_context_overflow(message: str) -> bool:
    """Whether a server's error message says the request exceeds the context window.

    >>> is_context_overflow("request (2079 tokens) exceeds the available context size (2048 tokens)")
    True
    """
    low = message.lower()
    return any(p in low for p in OVERFLOW_PHRASES)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def context_length_from_models(payload: Any, model: str = "") -> int | None:
    """The context length a /v1/models reply states for `model` (else its first entry), or None.

    >>> context_length_from_models({"data": [{"id": "m", "max_model_len": 32768}]})
    32768
    """
    entries = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        return None
    entries = [e for e in entries if isinstance(e, dict)]
    chosen = [e for e in entries if model and e.get("id") == model] or entries[:1]
    for entry in chosen:
        for name in MODEL_LIST_FIELDS:
            if (n := _positive_int(entry.get(name))) is not None:
                return n
    return None


def context_length_from_props(payload: Any) -> int | None:
    """llama.cpp's GET /props: the per-slot context (`default_generation_settings.n_ctx`), or None."""
    settings = payload.get("default_generation_settings") if isinstance(payload, dict) else None
    return _positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None


async def aengine_context_length(engine: Any) -> int | None:
    """The engine's context length (tokens one request may hold), None when it cannot tell."""
    probe = getattr(engine, "acontext_length", None)
    if not callable(probe):
        return None
    return await probe()
