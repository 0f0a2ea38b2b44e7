"""The endpoints of the retrieval server: POST /retrieve, POST /access, GET /health.

No `from __future__ import annotations` here on purpose: the request models are built per app
(their limits come from the ServerConfig), and FastAPI must see the classes themselves in the
endpoint signatures, not names it would look up in this module's globals.
"""

import asyncio
import json
import logging
import os
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import JSONResponse

from asearcher.api.documents import Hit
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_schema import ACCESS_RESPONSES, RETRIEVE_RESPONSES, request_models

logger = logging.getLogger(__name__)

SCORE_WRAPPER_BYTES = 32  # {"document":...,"score":...} around a doc, with a float score


def json_reply(obj: Any) -> Response:
    """`obj` as compact UTF-8 JSON (what JSONResponse sends), rendered here so its size is known."""
    body = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    # A lone surrogate in stored text cannot be UTF-8: replace it rather than fail the request.
    return Response(body.encode("utf-8", "replace"), media_type="application/json")


def _hits_to_json(results: list[list[Hit]], return_scores: bool) -> list[list[dict]]:
    if return_scores:
        return [[{"document": h.passage.to_doc(), "score": float(h.score)} for h in hits] for hits in results]
    return [[h.passage.to_doc() for h in hits] for hits in results]


def _too_large(size: str, limit: int, advice: str) -> HTTPException:
    return HTTPException(413, f"the reply would be {size}, above this server's max_response_bytes={limit:,}: {advice}")


def add_routes(app: FastAPI, state: Any, config: ServerConfig) -> None:
    """Register the endpoints on `app`; `state` is the server's _ServiceState."""
    RetrieveRequest, AccessRequest = request_models(config)

    @app.get("/health", responses={200: {"description": "Ready: index facts."},
                                   503: {"description": "Loading, or the index failed to load."}})
    async def health() -> JSONResponse:
        """200 with index facts when ready (and the answering process: `serve --workers N` runs several);
        503 while loading or when loading failed."""
        if state.load_error is not None:
            return JSONResponse({"status": "failed", "detail": state.load_error}, status_code=503)
        if state.retriever is None or state.batcher is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok", "kind": state.retriever.kind, "passages": len(state.retriever),
                             "pages": state.pages is not None, "load_s": state.load_s,
                             "batches": state.batcher.stats.as_dict(), "pid": os.getpid()})

    @app.post("/retrieve", responses=RETRIEVE_RESPONSES, response_class=Response)
    async def retrieve(body: RetrieveRequest) -> Response:
        """Search-R1 contract: {"result": [[doc, ...], ...]}, docs wrapped with scores on request."""
        state.note_unknown_keys("/retrieve", body.model_extra)
        if not body.queries:
            return json_reply({"result": []})  # Search-R1 rollouts send [] on turns where nobody searches
        topk = body.topk or config.default_topk  # 0 and null mean the default, as in Search-R1
        batcher = state.require_batcher()
        # A blank query has no terms to match: it gets no passages instead of arbitrary ones.
        wanted = [i for i, q in enumerate(body.queries) if q.strip()]
        per_doc = state.doc_bytes + (SCORE_WRAPPER_BYTES if body.return_scores else 0)
        estimate = len(wanted) * topk * per_doc
        if estimate > config.max_response_bytes:
            raise _too_large(f"about {estimate:,} bytes", config.max_response_bytes,
                             f"{len(wanted)} queries x topk {topk} x ~{per_doc} bytes per passage; "
                             "send fewer queries per request or a smaller topk")
        found = await batcher.asearch([body.queries[i] for i in wanted], topk) if wanted else []
        results: list[list[Hit]] = [[] for _ in body.queries]
        for i, hits in zip(wanted, found, strict=True):
            results[i] = hits
        reply = json_reply({"result": _hits_to_json(results, body.return_scores)})
        if len(reply.body) > config.max_response_bytes:  # the estimate was low: longer passages than usual
            raise _too_large(f"{len(reply.body):,} bytes", config.max_response_bytes,
                             "send fewer queries per request or a smaller topk")
        return reply

    @app.post("/access", responses=ACCESS_RESPONSES, response_class=Response)
    async def access(body: AccessRequest) -> Response:
        """ASearcher contract: {"result": [page or null, ...]}, page = {url, title, contents}."""
        state.note_unknown_keys("/access", body.model_extra)
        if not body.urls:
            return json_reply({"result": []})
        if state.pages is None:
            raise HTTPException(501, "this server has no page store: start it with --pages PATH")
        pages = await asyncio.to_thread(state.pages_within_budget, body.urls, config.max_response_bytes)
        if pages is None:
            raise _too_large(f"over {config.max_response_bytes:,} bytes", config.max_response_bytes,
                             f"the {len(body.urls)} pages asked for are too long together; ask for fewer URLs")
        reply = json_reply({"result": [p.to_doc() if p is not None else None for p in pages]})
        if len(reply.body) > config.max_response_bytes:
            raise _too_large(f"{len(reply.body):,} bytes", config.max_response_bytes, "ask for fewer URLs")
        return reply
