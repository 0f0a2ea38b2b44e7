"""The world's failures versus ours, for the code that runs whole episodes (`eval`, `ask`, `synth`,
and training's rollout executor).

An episode can fail because something outside this program misbehaved: a model server refuses the
request or keeps failing, a retrieval server is down, hangs or answers garbage, the episode runs past
its wall-clock cap, the model does not fit the memory it was given. Such an episode ends with a typed
stop (`context_limit`, `error`, `timeout`) recorded and counted, and the run goes on. Any other
exception (a TypeError, a KeyError, a RuntimeError in general) is a bug of ours and propagates.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from asearcher.api.engine import ContextLimitError
from asearcher.api.trajectory import StopReason
from asearcher.redact import redact_text

T = TypeVar("T")


class EpisodeTimeout(TimeoutError):
    """The episode ran past its wall-clock cap."""


@dataclass(slots=True)
class EpisodeFailure:
    """Why an episode failed, as recorded and counted.

    Attributes:
        stop_reason: `context_limit`, `timeout` or `error`.
        kind: the exception's class name (what the summary counts).
        message: its message, credentials redacted.
    """

    stop_reason: StopReason
    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"stop_reason": self.stop_reason.value, "kind": self.kind, "message": self.message}


def world_failures() -> tuple[type[BaseException], ...]:
    """Exception types raised when a server or the network failed (not when our code did)."""
    import httpx

    from asearcher.engines.openai_http import HTTPEngineError
    from asearcher.retrieval.client import RetrievalError

    # TimeoutError covers asyncio's; ConnectionError the sockets' own failures.
    return (ContextLimitError, HTTPEngineError, RetrievalError, httpx.HTTPError, TimeoutError, ConnectionError)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says the model ran out of memory (an in-process engine's forward pass): the
    machine's limit, not a bug. torch raises `torch.OutOfMemoryError` on a GPU but a plain RuntimeError
    from its CPU allocator, recognised by the allocator's own words; any other RuntimeError is ours."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # not imported: no torch tensor can have run out of memory
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(exc)


def classify(exc: BaseException) -> EpisodeFailure | None:
    """The typed failure for a world failure; None for anything else (a bug: re-raise it)."""
    if not isinstance(exc, world_failures()) and not is_out_of_memory(exc):
        return None
    if isinstance(exc, ContextLimitError):
        reason = StopReason.CONTEXT_LIMIT
    elif isinstance(exc, EpisodeTimeout):
        reason = StopReason.TIMEOUT
    else:
        reason = StopReason.ERROR
    return EpisodeFailure(reason, type(exc).__name__, redact_text(str(exc) or repr(exc))[:1000])


async def acapped(awaitable: Awaitable[T], cap_s: float | None) -> T:
    """Await `awaitable`, cancelling it after `cap_s` seconds (None or 0: no cap) with EpisodeTimeout.

    A TimeoutError raised inside the episode (a tool's own deadline) stays what it was."""
    if not cap_s:
        return await awaitable
    try:
        async with asyncio.timeout(cap_s) as deadline:
            return await awaitable
    except TimeoutError:
        if deadline.expired():
            raise EpisodeTimeout(f"the episode ran past its wall-clock cap of {cap_s:g} s") from None
        raise
