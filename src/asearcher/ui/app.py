"""The FastAPI app of `asearcher ui`: pages, the read-only run API, and the ask API.

    app = create_app(UIConfig(runs=["runs/"]))   # then uvicorn.run(app, host=..., port=...)

Everything the pages load is inside this package (static/); nothing is fetched from the internet.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from asearcher.errors import UserError
from asearcher.ui import dashboard
from asearcher.ui.ask import AskRunner
from asearcher.ui.config import UIConfig
from asearcher.ui.explorer import RANGE_COLUMNS, Explorer, Query
from asearcher.ui.files import NotReadable, RunRoots
from asearcher.ui.security import AccessGuard
from asearcher.ui.tokens import Tokenizers

STATIC = Path(__file__).parent / "static"
PAGES = ("ask", "explorer", "dashboard")


def save_folder(config: UIConfig) -> Path:
    """Where the ask page saves trajectories (see UIConfig.save_dir)."""
    if config.save_dir:
        return Path(config.save_dir).expanduser()
    return Path(config.runs[0]).expanduser() / "asks" if config.runs else Path("asearcher-asks")


def _query(request: Request) -> Query:
    p = request.query_params
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for col in RANGE_COLUMNS:
        lo, hi = p.get(f"min_{col}"), p.get(f"max_{col}")
        if lo or hi:
            try:
                ranges[col] = (float(lo) if lo else None, float(hi) if hi else None)
            except ValueError:
                raise UserError(f"min_{col}/max_{col}: not numbers: {lo!r}, {hi!r}") from None
    return Query(dataset=p.get("dataset", ""), correct=p.get("correct", ""), stop_reason=p.get("stop_reason", ""),
                 q=p.get("q", ""), qid=p.get("qid", ""), sort=p.get("sort", "n"), desc=p.get("desc") == "1",
                 offset=int(p.get("offset", 0)), limit=int(p.get("limit", 100)), ranges=ranges)


def _page(name: str):
    def serve() -> FileResponse:
        return FileResponse(STATIC / f"{name}.html")
    return serve


def _sse(kind: str, data: dict[str, Any], n: int) -> str:
    return f"id: {n}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _add_run_routes(app: FastAPI, roots: RunRoots, explorer: Explorer) -> None:
    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"runs": [{"id": r.id, "name": r.name, "kind": r.kind, "files": r.files, "mtime": r.mtime}
                         for r in roots.runs()]}

    @app.get("/api/explorer/rows")
    def rows(request: Request, file: str) -> dict[str, Any]:
        return explorer.query(file, _query(request))

    @app.get("/api/explorer/trajectory")
    def trajectory(file: str, n: int) -> dict[str, Any]:
        return explorer.detail(file, n)

    @app.get("/api/explorer/tokens")
    def tokens(file: str, n: int, segment: int = 0, start: int = 0, limit: int = 4000) -> dict[str, Any]:
        return explorer.tokens(file, n, segment, max(0, start), limit)

    @app.get("/api/dashboard/run")
    def run_overview(run: str) -> dict[str, Any]:
        return dashboard.run_overview(roots, run)

    @app.get("/api/dashboard/metrics")
    def metrics(file: str, offset: int = 0) -> dict[str, Any]:
        path = roots.resolve(file)
        if path.name != "metrics.jsonl":
            raise NotReadable(file)
        return dashboard.metrics_since(path, max(0, offset))


def _add_ask_routes(app: FastAPI, runner: AskRunner, folder: Path) -> None:
    def session(sid: str):
        if sid not in runner.sessions:
            raise HTTPException(404, "no such episode")
        return runner.sessions[sid]

    @app.get("/api/ask/options")
    def options() -> dict[str, Any]:
        return runner.choices.public()

    @app.post("/api/ask")
    async def start(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        s = runner.start(str(body.get("question", "")), str(body.get("agent", "base")),
                         str(body.get("model", "embedded")), str(body.get("retriever", "embedded")),
                         body.get("max_turns") or None)
        return {"id": s.id}

    @app.get("/api/ask/{sid}/events")
    async def events(sid: str, request: Request) -> StreamingResponse:
        s = session(sid)
        last = request.headers.get("last-event-id")
        first = int(last) + 1 if last and last.isdigit() else 0

        async def stream():
            async for n, kind, data in s.aevents(first):
                yield _sse(kind, data, n)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/api/ask/{sid}/cancel")
    def cancel(sid: str) -> dict[str, Any]:
        session(sid)
        return {"cancelled": runner.cancel(sid)}

    @app.post("/api/ask/{sid}/save")
    def save(sid: str) -> dict[str, Any]:
        session(sid)
        return {"path": str(runner.save(sid, folder))}

    @app.get("/api/ask/{sid}/trajectory")
    def download(sid: str) -> Response:
        s = session(sid)
        if s.trajectory is None:
            raise UserError("the episode has not finished")
        return Response(s.trajectory.to_json(), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="ask-{sid}.json"'})

    @app.get("/api/ask/{sid}/page")
    async def page(sid: str, url: str) -> dict[str, Any]:
        session(sid)
        found = await runner.apage(sid, url)
        if found is None:
            raise HTTPException(404, "the retriever has no page at this URL")
        return found


def create_app(config: UIConfig, runner: AskRunner | None = None) -> FastAPI:
    """The app over `config.runs`; `runner` runs the ask page's episodes (None: the ask API is off)."""
    roots = RunRoots(config.runs)
    explorer = Explorer(roots, Tokenizers(config.tokenizer))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        if runner is not None:
            await runner.aclose()

    app = FastAPI(title="asearcher ui", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(AccessGuard, config=config)

    @app.exception_handler(NotReadable)
    async def not_readable(_: Request, e: NotReadable) -> JSONResponse:
        return JSONResponse({"error": "not found"}, status_code=404)

    @app.exception_handler(IndexError)
    async def out_of_range(_: Request, e: IndexError) -> JSONResponse:
        return JSONResponse({"error": "no such line or segment"}, status_code=404)

    @app.exception_handler(UserError)
    async def bad_input(_: Request, e: UserError) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=400)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/explorer" if runner is None else "/ask")

    for name in PAGES:
        app.add_api_route(f"/{name}", _page(name), include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_run_routes(app, roots, explorer)
    if runner is not None:
        _add_ask_routes(app, runner, save_folder(config))
    return app
