"""`asearcher serve --workers N`: N server processes on one port, sharing one memory-mapped index.

uvicorn's own supervisor (the one behind `uvicorn --workers`) runs the workers: they are spawned
processes that accept on one listening socket bound here, so the kernel hands each new connection
to whichever worker is free, and no process of ours sits between client and worker. Each worker
opens the index itself; the index files are memory-mapped (tantivy segments, the faiss vectors,
the passage store), so N workers share one copy in the page cache and only their Python heaps
and models are per process.

What this module adds around the supervisor:
- the app factory each worker calls (a picklable partial: uvicorn pickles its config into the
  spawned process), which opens the pages file and builds the usual app;
- a readiness queue: every worker reports its pid once its index is loaded and warmed, and the
  address file is written when all N have (ASearcher's clients must never find a loading server);
- crash reports: a worker that exits unasked is logged with its exit code before uvicorn starts
  its replacement (uvicorn's own note is at INFO, hidden at the default log level).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from asearcher.errors import UserError
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import uvicorn_options

logger = logging.getLogger(__name__)


def _worker_app(index_dir: Path, pages_path: Path | None, config: ServerConfig, ready: Any) -> Any:
    """The app of one worker process (called by uvicorn inside the worker, as a factory)."""
    from asearcher.log import setup_logging
    from asearcher.retrieval.server import create_app

    setup_logging()
    pid = os.getpid()
    try:
        pages = None
        if pages_path is not None:
            from asearcher.corpus import JsonlPageStore

            pages = JsonlPageStore(pages_path)
        return create_app(index_dir, pages, config, on_ready=lambda: ready.put(pid))
    except Exception as e:  # noqa: BLE001 - turned into uvicorn's start-up failure, see below
        # A worker that cannot build its app fails the same way every time: exiting with uvicorn's
        # STARTUP_FAILURE code makes the supervisor stop instead of restarting it forever.
        if isinstance(e, UserError):
            logger.error("worker %d cannot start: %s", pid, e)
        else:
            logger.exception("worker %d cannot start", pid)
        sys.exit(STARTUP_FAILURE)


def describe_exit(code: int | None) -> str:
    """A worker's exit code in words (negative: killed by that signal)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, reporting a worker that died before it is replaced.

    Hooks `keep_subprocess_alive`, which uvicorn's loop calls every 0.5 s to replace dead workers
    (uvicorn is pinned in pyproject.toml; the crash test in test_server_workers.py fails if it moves).
    """

    def keep_subprocess_alive(self) -> None:
        if not self.should_exit.is_set():
            for process in self.processes:
                # A start-up failure has been logged by the worker; uvicorn then stops all of them.
                if process.exitcode not in (None, STARTUP_FAILURE):
                    logger.error("worker %s stopped (%s); starting a replacement", process.pid,
                                 describe_exit(process.exitcode))
        super().keep_subprocess_alive()


def _announce_when_ready(ready: Any, workers: int, stop: threading.Event, on_ready: Callable[[], None] | None) -> None:
    """Log each worker's readiness; call `on_ready` once `workers` distinct workers are ready."""
    seen: set[int] = set()
    announced = False
    while not stop.is_set():
        try:
            pid = ready.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.add(pid)
        logger.info("worker %d ready (%d of %d)", pid, min(len(seen), workers), workers)
        if not announced and len(seen) >= workers:
            announced = True
            logger.warning("all %d workers ready", workers)
            if on_ready is not None:
                on_ready()


def serve_workers(index_dir: Path, pages_path: Path | None, config: ServerConfig, sock: socket.socket,
                  on_ready: Callable[[], None] | None = None) -> None:
    """Serve the index with `config.workers` processes on `sock` until SIGINT / SIGTERM (blocking).

    Must run in the main thread (the supervisor installs signal handlers). On a signal every worker
    is sent SIGTERM and joined; `on_ready` runs once all workers have loaded the index.
    """
    # spawn, as uvicorn uses: the queue is handed to the workers while they are being spawned.
    ready = multiprocessing.get_context("spawn").Queue()
    app = functools.partial(_worker_app, Path(index_dir), pages_path, config, ready)
    port = sock.getsockname()[1]
    uv_config = uvicorn.Config(app, factory=True, workers=config.workers,
                               **uvicorn_options(config.host, port, config))
    stop = threading.Event()
    watcher = threading.Thread(target=_announce_when_ready, args=(ready, config.workers, stop, on_ready),
                               name="workers-ready", daemon=True)
    watcher.start()
    supervisor = _Supervisor(uv_config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        stop.set()
        watcher.join(5)
        ready.close()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        # uvicorn stops everything when a worker cannot even build its app (a bad pages file, ...):
        # every replacement would fail the same way. Exit non-zero, pointing at the worker's log.
        raise UserError("a server worker failed to start (its error is in the log above); all workers stopped")
