"""The retrieval HTTP service: Search-R1's `/retrieve` and ASearcher's `/access` over one index.

A thin FastAPI app around a `Retriever` and an optional `PageStore`. The index loads (and is
warmed by one throwaway search) in the background so `/health` answers at once (503 while loading). Concurrent requests are not
serialised by a lock: their queries go to a `MicroBatcher`, which runs `batch_search` on
everything waiting at once.

    app = create_app(Path("index/wiki-lead-bm25"), JsonlPageStore(pages_path), ServerConfig())
    run_server(app, config)            # blocking, as `asearcher serve` does
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from asearcher import __version__
from asearcher.api.documents import Hit
from asearcher.api.retriever import PageStore, Retriever
from asearcher.retrieval.batcher import MicroBatcher
from asearcher.retrieval.server_body_limit import BodyLimitMiddleware
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_schema import AccessRequest, RetrieveRequest, describe_validation_errors

logger = logging.getLogger(__name__)

IndexSource = Path | str | Retriever | Callable[[], Retriever]


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

    def __init__(self, load: Callable[[], Retriever], pages: PageStore | None, config: ServerConfig) -> None:
        self.load = load
        self.pages = pages
        self.config = config
        self.retriever: Retriever | None = None
        self.batcher: MicroBatcher | None = None
        self.load_error: str | None = None
        self.load_s: float | None = None

    def _load_and_warm(self) -> Retriever:
        retriever = self.load()
        # A dense embedder loads lazily (~10 s) on its first query: pay that here, so that /health
        # turns 200 only once a query is fast. One throwaway search warms any retriever the same way.
        retriever.batch_search(["warm-up"], 1)
        return retriever

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

    def require_batcher(self) -> MicroBatcher:
        if self.load_error is not None:
            raise HTTPException(503, f"the index failed to load: {self.load_error}")
        if self.batcher is None:
            raise HTTPException(503, "the index is still loading; poll GET /health until it returns 200")
        return self.batcher


def _hits_to_json(results: list[list[Hit]], return_scores: bool) -> list[list[dict]]:
    if return_scores:
        return [[{"document": h.passage.to_doc(), "score": float(h.score)} for h in hits] for hits in results]
    return [[h.passage.to_doc() for h in hits] for hits in results]


def create_app(index: IndexSource, pages: PageStore | None = None, config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI app serving `index` (an index directory, a Retriever, or a loader function).

    `pages` backs `/access`; without it `/access` answers 501. The index is loaded in a worker
    thread at start-up, so this returns at once and `/health` is 503 until the index is ready.
    """
    config = config or ServerConfig()
    config.validate()
    state = _ServiceState(_loader(index), pages, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(index, Retriever):
            # Already in memory: ready before the first connection is accepted.
            await state.aload()
            loading = None
        else:
            loading = asyncio.create_task(state.aload(), name="retrieval-index-load")
        yield
        if loading is not None:
            loading.cancel()
        if state.batcher is not None:
            await state.batcher.astop()

    app = FastAPI(title="asearcher retrieval", version=__version__, lifespan=lifespan,
                  description="Search-R1-compatible /retrieve and ASearcher-compatible /access.")
    app.state.service = state
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = describe_validation_errors(list(exc.errors()))
        return JSONResponse({"detail": message}, status_code=status)

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 with index facts when ready; 503 while loading or when loading failed."""
        if state.load_error is not None:
            return JSONResponse({"status": "failed", "detail": state.load_error}, status_code=503)
        if state.retriever is None or state.batcher is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok", "kind": state.retriever.kind, "passages": len(state.retriever),
                             "pages": state.pages is not None, "load_s": state.load_s,
                             "batches": state.batcher.stats.as_dict()})

    @app.post("/retrieve")
    async def retrieve(body: RetrieveRequest) -> JSONResponse:
        """Search-R1 contract: {"result": [[doc, ...], ...]}, docs wrapped with scores on request."""
        topk = body.topk if body.topk is not None else config.default_topk
        if topk > config.max_topk:
            raise HTTPException(422, f"topk: {topk} is above this server's max_topk={config.max_topk}")
        if len(body.queries) > config.max_queries:
            raise HTTPException(422, f"queries: {len(body.queries)} queries, above max_queries={config.max_queries}")
        batcher = state.require_batcher()
        # A blank query has no terms to match: it gets no passages instead of arbitrary ones.
        wanted = [i for i, q in enumerate(body.queries) if q.strip()]
        found = await batcher.asearch([body.queries[i] for i in wanted], topk) if wanted else []
        results: list[list[Hit]] = [[] for _ in body.queries]
        for i, hits in zip(wanted, found, strict=True):
            results[i] = hits
        # A JSONResponse skips FastAPI's generic encoder, which is slow on nested results.
        return JSONResponse({"result": _hits_to_json(results, body.return_scores)})

    @app.post("/access")
    async def access(body: AccessRequest) -> JSONResponse:
        """ASearcher contract: {"result": [page or null, ...]}, page = {url, title, contents}."""
        if len(body.urls) > config.max_queries:
            raise HTTPException(422, f"urls: {len(body.urls)} URLs, above max_queries={config.max_queries}")
        if state.pages is None:
            raise HTTPException(501, "this server has no page store: start it with --pages PATH")
        store = state.pages
        pages = await asyncio.to_thread(lambda: [store.get(u) for u in body.urls])
        return JSONResponse({"result": [p.to_doc() if p is not None else None for p in pages]})

    return app
