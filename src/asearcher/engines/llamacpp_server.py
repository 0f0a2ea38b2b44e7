"""Launch xllamacpp's in-process llama.cpp HTTP server (OpenAI-compatible, continuous batching over
`n_parallel` slots) for a GGUF file on 127.0.0.1, and put an `OpenAIEngine` on top of it."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from asearcher.api.engine import GenRequest, GenResult
from asearcher.engines.config import EngineConfig
from asearcher.engines.openai_http import OpenAIEngine
from asearcher.errors import UserError

log = logging.getLogger(__name__)

LLAMA_LOG_ERRORS = 1
LLAMA_LOG_VERBOSE = 3  # llama.cpp's own default; used when this module's logger is at DEBUG


def _free_port() -> int:
    # The port is released before llama.cpp binds it; another process could grab it in between,
    # which start() then reports as a failed health check rather than a silent misroute.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slot_context(config: EngineConfig) -> int:
    """The context of one llama.cpp slot: `n_ctx` shared evenly by `n_parallel` slots."""
    return config.n_ctx // max(1, config.n_parallel)


class LlamaCppServer:
    """A llama.cpp server on 127.0.0.1 serving one GGUF model. Use as a context manager or call
    `start()` / `stop()`. Its threads live in this process; `stop()` joins them."""

    def __init__(self, gguf: str | Path, config: EngineConfig | None = None) -> None:
        self.gguf = Path(gguf).expanduser()
        if not self.gguf.is_file() or self.gguf.suffix != ".gguf":
            raise UserError(f"llama.cpp needs a .gguf file; {str(self.gguf)!r} is not one")
        self.config = config or EngineConfig()
        self.port = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        """Base URL of the OpenAI-compatible API."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> LlamaCppServer:
        """Load the model, start serving and wait until /health answers 200."""
        import xllamacpp

        cfg = self.config
        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf)
        params.n_parallel = cfg.n_parallel
        params.n_ctx = cfg.n_ctx
        threads = cfg.n_threads or os.cpu_count() or 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = ["127.0.0.1"]  # never listen beyond this machine
        # llama.cpp logs every request (and the whole model load) to the process's stderr, which would
        # bury `asearcher ask`'s trace. Its levels: 1 = errors, 2 = warnings, 3 = info (its default);
        # errors stay visible (checked: a truncated .gguf still prints its load errors at 1).
        params.verbosity = LLAMA_LOG_VERBOSE if log.isEnabledFor(logging.DEBUG) else LLAMA_LOG_ERRORS
        self.port = _free_port()
        params.port = self.port
        start = time.perf_counter()
        self._server = xllamacpp.Server(params)
        deadline = start + timeout_s
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"llama.cpp server for {self.gguf.name} not healthy after {timeout_s:.0f} s")
            time.sleep(0.1)
        log.info("llama.cpp serving %s at %s (%.1f s)", self.gguf.name, self.url, time.perf_counter() - start)
        return self

    def stop(self) -> None:
        """Stop serving and free the model (the server's destructor joins its threads)."""
        if self._server is not None:
            server, self._server = self._server, None
            del server

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LlamaCppEngine:
    """An `OpenAIEngine` (completions mode: token-in/token-out) over its own `LlamaCppServer`."""

    def __init__(self, gguf: str | Path, config: EngineConfig | None = None, tokenizer: Any = None) -> None:
        config = config or EngineConfig()
        self.server = LlamaCppServer(gguf, config).start()
        self.http = OpenAIEngine(self.server.url, config, tokenizer=tokenizer)
        self.tokenizer = tokenizer
        self.version = 0

    def __repr__(self) -> str:
        return f"LlamaCppEngine({self.server.gguf.name!r}, url={self.server.url!r})"

    async def acontext_length(self) -> int:
        """Tokens one request may hold: llama.cpp splits `n_ctx` evenly over its `n_parallel` slots."""
        return slot_context(self.server.config)

    async def agenerate(self, request: GenRequest) -> GenResult:
        """Generate through the local server (see `OpenAIEngine.agenerate`)."""
        return await self.http.agenerate(request)

    async def aclose(self) -> None:
        """Close the client and stop the server."""
        await self.http.aclose()
        self.server.stop()
