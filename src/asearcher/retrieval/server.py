"""The retrieval HTTP service: Search-R1's `/retrieve` and ASearcher's `/access` over one index.

A thin FastAPI app around a `Retriever` and an optional `PageStore`. The index loads (and is
warmed by one throwaway search) in the background so `/health` answers at once (503 while
loading). Concurrent requests are not serialised by a lock: their queries go to a
`MicroBatcher`, which runs `batch_search` on everything waiting at once. The endpoints are in
server_routes.py, the request and reply schemas in server_schema.py.

    app = create_app(Path("index/wiki-lead-bm25"), JsonlPageStore(pages_path), ServerConfig())
    run_server(app, config)            # blocking, as `asearcher serve` does
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from asearcher import __version__
from asearcher.api.documents import Page
from asearcher.api.retriever import PageStore, Retriever
from asearcher.retrieval.batcher import MicroBatcher
from asearcher.retrieval.server_body_limit import BodyLimitMiddleware
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_routes import add_routes
from asearcher.retrieval.server_schema import describe_validation_errors

logger = logging.getLogger(__name__)

IndexSource = Path | str | Retriever | Callable[[], Retriever]
MAX_LOGGED_KEYS = 64


def _loader(index: IndexSource) -> Callable[[], Retriever]:
    """A zero-argument function returning the retriever, whatever form `index` was given in."""
    if isinstance(index, str | Path):
        index_dir = Path(index)

        def load() -> Retriever:
            from asearcher.retrieval import load_index  # helper B's loader; heavy imports

            return load_index(index_dir)

        return load
    if isinstance(index, Retriever):
        return lambda: index
    if callable(index):
        return index
    raise TypeError(f"index must be a directory, a Retriever or a loader function, got {type(index).__name__}")


class _ServiceState:
    """What the endpoints share: the retriever once loaded, the page store, the batcher."""

    def __init__(self, load: Callable[[], Retriever], pages: PageStore | None, config: ServerConfig,
                 on_ready: Callable[[], None] | None = None) -> None:
        self.load = load
        self.on_ready = on_ready
        self.pages = pages
        self.config = config
        self.retriever: Retriever | None = None
        self.batcher: MicroBatcher | None = None
        self.load_error: str | None = None
        self.load_s: float | None = None
        self.doc_bytes = 1024  # mean size of a served passage, measured at load (1 KiB until then)
        self.unknown_keys: set[tuple[str, str]] = set()

    def _load_and_warm(self) -> Retriever:
        retriever = self.load()
        # A dense embedder loads lazily (~10 s) on its first query: pay that here, so that /health
        # turns 200 only once a query is fast. One throwaway search warms any retriever the same way,
        # and its hits give the typical size of a served passage (for the reply-size budget).
        (hits,) = retriever.batch_search(["the of and in a is was"], 20)
        if hits:
            self.doc_bytes = sum(len(json.dumps(h.passage.to_doc()).encode()) for h in hits) // len(hits) + 1
        return retriever

    def note_unknown_keys(self, path: str, extra: dict[str, Any] | None) -> None:
        """Log each unknown request key once: peers ignore them, but a typo (top_k) should be visible.

        At most MAX_LOGGED_KEYS distinct keys are remembered, so random keys cannot grow memory or
        flood the log.
        """
        for key in sorted(extra or {}):
            if (path, key) in self.unknown_keys or len(self.unknown_keys) > MAX_LOGGED_KEYS:
                continue
            self.unknown_keys.add((path, key))
            if len(self.unknown_keys) > MAX_LOGGED_KEYS:
                logger.warning("more than %d distinct unknown request fields: no longer logging them", MAX_LOGGED_KEYS)
                return
            logger.warning("%s: request field %r is not known and is ignored (first time seen)", path, key[:80])

    def pages_within_budget(self, urls: list[str], budget: int) -> list[Page | None] | None:
        """The pages at `urls`, or None as soon as their served size passes `budget` bytes."""
        assert self.pages is not None
        pages, size = [], 0
        for url in urls:
            page = self.pages.get(url)
            # Characters: a lower bound of the UTF-8 size, enough to stop early; the rendered reply
            # is checked against the budget too.
            size += 40 + (len(page.url) + len(page.title) + len(page.text) if page is not None else 0)
            if size > budget:
                return None
            pages.append(page)
        return pages

    async def aload(self) -> None:
        start = time.perf_counter()
        try:
            retriever = await asyncio.to_thread(self._load_and_warm)
        except Exception as e:  # noqa: BLE001 - reported by /health and the log; the server stays up
            self.load_error = f"{type(e).__name__}: {e}"
            logger.exception("loading the index failed")
            return
        batcher = MicroBatcher(retriever.batch_search, max_batch=self.config.max_batch,
                               max_wait_ms=self.config.max_wait_ms, workers=self.config.batch_workers)
        batcher.start()
        self.batcher, self.retriever = batcher, retriever
        # Everything loaded so far lives as long as the server: move it out of the cyclic GC's
        # generations so that full collections (the p99 latency spikes under load) stay short.
        gc.collect()
        gc.freeze()
        self.load_s = time.perf_counter() - start
        logger.info("index loaded and warmed in %.1f s: %s, %d passages", self.load_s, retriever.kind, len(retriever))
        if self.on_ready is not None:
            self.on_ready()

    def require_batcher(self) -> MicroBatcher:
        if self.load_error is not None:
            raise HTTPException(503, f"the index failed to load: {self.load_error}")
        if self.batcher is None:
            raise HTTPException(503, "the index is still loading; poll GET /health until it returns 200")
        return self.batcher


def create_app(index: IndexSource, pages: PageStore | None = None, config: ServerConfig | None = None,
               on_ready: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None) -> FastAPI:
    """The FastAPI app serving `index` (an index directory, a Retriever, or a loader function).

    `pages` backs `/access`; without it `/access` answers 501. The index is loaded in a worker
    thread at start-up, so this returns at once and `/health` is 503 until the index is ready;
    `on_ready` is called then (`asearcher serve` writes its address file there, so clients that
    discover servers through address files only find ready ones), and `on_stop` at shutdown
    (uvicorn re-raises SIGTERM / SIGINT after its shutdown, so code after `run_server` may never run).
    """
    config = config or ServerConfig()
    config.validate()
    state = _ServiceState(_loader(index), pages, config, on_ready)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(index, Retriever):
            # Already in memory: ready before the first connection is accepted.
            await state.aload()
            loading = None
        else:
            loading = asyncio.create_task(state.aload(), name="retrieval-index-load")
        try:
            yield
        finally:
            if on_stop is not None:
                on_stop()
        if loading is not None:
            loading.cancel()
        if state.batcher is not None:
            await state.batcher.astop()

    app = FastAPI(title="asearcher retrieval", version=__version__, lifespan=lifespan,
                  description="Search-R1-compatible /retrieve and ASearcher-compatible /access.")
    app.state.service = state
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = describe_validation_errors(list(exc.errors()))
        return JSONResponse({"detail": message}, status_code=status)

    add_routes(app, state, config)
    return app
