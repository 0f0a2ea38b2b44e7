"""Running the retrieval app under uvicorn: in the foreground (`asearcher serve`) or in a thread.

`ServerThread` serves an app on 127.0.0.1 and a free port inside the current process; tests of
the server, the client and the tools use it to talk real HTTP over loopback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_timeouts import HeaderTimeoutHTTP

logger = logging.getLogger(__name__)


def uvicorn_options(host: str, port: int, config: ServerConfig) -> dict[str, Any]:
    """The uvicorn.Config keywords of our server, shared by the one-process and multi-process modes."""
    # access_log off: one log line per request costs more than a BM25 search at high load.
    return {"host": host, "port": port, "log_level": config.log_level, "access_log": False, "lifespan": "on",
            "timeout_graceful_shutdown": 5, "timeout_keep_alive": config.keep_alive_s,
            "http": HeaderTimeoutHTTP(config.header_timeout_s)}


def _uvicorn_config(app: Any, host: str, port: int, config: ServerConfig) -> uvicorn.Config:
    return uvicorn.Config(app, **uvicorn_options(host, port, config))


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to host:port (port 0: a free one, read it back from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def run_server(app: Any, config: ServerConfig, sock: socket.socket | None = None) -> None:
    """Serve `app` on `sock` (or config.host:config.port) until interrupted (blocking)."""
    sock = sock or bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    logger.info("retrieval server on http://%s:%d", config.host, port)
    uvicorn.Server(_uvicorn_config(app, config.host, port, config)).run(sockets=[sock])


class ServerThread:
    """Serves an ASGI app on a loopback port from a background thread.

        with ServerThread(app) as base_url:
            httpx.get(f"{base_url}/health")

    `port=0` picks a free port (the socket is bound here, so there is no race for it).
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 config: ServerConfig | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.config = config or ServerConfig(log_level=log_level)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> str:
        """Start serving; returns the base URL once uvicorn accepts connections."""
        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self.port, self.config))
        # uvicorn installs signal handlers only in the main thread; this one must not.
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        sock = self._sock
        server = self._server
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                                        name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread exited during start-up (see the log)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server did not start within {timeout_s} s")
            time.sleep(0.01)
        return self.base_url

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True  # type: ignore[union-attr]
                self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
