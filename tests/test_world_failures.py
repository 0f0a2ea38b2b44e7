"""failures.classify: which exceptions are the world's (a typed stop) and which are our bugs (None: re-raise)."""

from __future__ import annotations

import httpx
import pytest
import torch

from asearcher.api.engine import ContextLimitError
from asearcher.api.trajectory import StopReason
from asearcher.engines.openai_http import HTTPEngineError
from asearcher.engines.remote import EngineUnavailable
from asearcher.failures import EpisodeTimeout, classify, is_out_of_memory
from asearcher.retrieval.client import RetrievalError


def _raised(make) -> BaseException:
    try:
        make()
    except BaseException as e:  # noqa: BLE001 - the test wants whatever the call raised
        return e
    raise AssertionError("the call did not raise")


@pytest.mark.parametrize(("exc", "reason"), [
    (ContextLimitError("prompt too long"), StopReason.CONTEXT_LIMIT),
    (HTTPEngineError("400 bad request"), StopReason.ERROR),
    (EngineUnavailable("actor died"), StopReason.ERROR),
    (RetrievalError("server down"), StopReason.ERROR),
    (httpx.ReadTimeout("slow"), StopReason.ERROR),
    (TimeoutError("a tool's own deadline"), StopReason.ERROR),
    (ConnectionResetError("reset"), StopReason.ERROR),
    (EpisodeTimeout("past the cap"), StopReason.TIMEOUT),
])
def test_the_worlds_failures_become_typed_stops(exc, reason):
    failure = classify(exc)
    assert failure is not None and failure.stop_reason is reason and failure.kind == type(exc).__name__


@pytest.mark.parametrize("exc", [TypeError("bad arg"), KeyError("x"), ValueError("bad value"),
                                 RuntimeError("engine step failed"), AssertionError("invariant"),
                                 AttributeError("no such field")])
def test_our_bugs_are_not_classified(exc):
    assert classify(exc) is None and not is_out_of_memory(exc)


def test_out_of_memory_is_the_worlds_on_cpu_and_gpu():
    # Real allocations of 2**60 bytes: beyond any machine's address space, so they fail everywhere at once.
    cpu = _raised(lambda: torch.empty(2**60, dtype=torch.uint8))
    assert type(cpu) is RuntimeError  # torch's CPU allocator: a plain RuntimeError, known by its words
    python = _raised(lambda: bytearray(2**60))
    assert isinstance(python, MemoryError)
    gpu = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")  # no GPU here: built
    for exc in (cpu, python, gpu):
        failure = classify(exc)
        assert failure is not None and failure.stop_reason is StopReason.ERROR
