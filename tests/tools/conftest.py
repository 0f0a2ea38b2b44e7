"""A local HTTP server on 127.0.0.1 serving fixture pages, for the web tools' tests.

Tests never send traffic anywhere else: every URL they fetch is on this server, and the URLs
that point elsewhere (10.x, 169.254.169.254) must be refused by the guard before any connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ARTICLE = """<!doctype html><html><head><title>Tide pools</title><script>var x = "hidden script";</script></head>
<body><nav>Home | About | Contact</nav><main><article><h1>Tide pools</h1>
<p>Tide pools are rocky pools on the seashore that are filled with seawater when the tide goes out.
Many tide pools are habitats of especially adaptable animals such as starfish, mussels and clams.</p>
<p>The pools are exposed to the sun, wind and waves, and the creatures living there must survive
changing temperature and salinity. Marine biologists study them as natural laboratories.</p>
</article></main><footer>Copyright footer</footer></body></html>"""

BIG_SIZE = 3_000_000


class FixtureServer:
    """Records requests; `routes` maps a path to a handler(request) -> (status, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []  # method, path, headers, body
        self.serper_results: list[dict] = []
        # path -> (status, headers, body), or a function(body) returning one: scripted replies,
        # e.g. a retrieval server answering a wrong shape (checked before the built-in routes).
        self.replies: dict[str, tuple[int, dict, bytes] | Callable[[bytes], tuple[int, dict, bytes]]] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def count(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.requests if p == path)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _respond(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((method, self.path, dict(self.headers), body))
                status, headers, payload = server.route(method, self.path, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading at its byte cap: expected

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._respond("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._respond("POST")

        return Handler

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path in self.replies:
            reply = self.replies[path]
            return reply(body) if callable(reply) else reply
        if path == "/article":
            return 200, html, ARTICLE.encode()
        if path == "/plain":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, "Just some plain text.\n\nSecond paragraph.".encode()
        if path == "/slow":
            time.sleep(2.0)
            return 200, html, ARTICLE.encode()
        if path == "/big":
            return 200, {"Content-Type": "text/plain"}, b"word " * (BIG_SIZE // 5)
        if path == "/binary":
            return 200, {"Content-Type": "application/octet-stream"}, bytes(range(256)) * 10
        if path == "/paper.pdf":
            return 200, {"Content-Type": "application/pdf"}, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
        if path == "/untyped-pdf":
            return 200, {}, b"%PDF-1.7\nbinary stuff"
        if path.startswith("/redirect-to?"):
            return 302, {"Location": path.split("?", 1)[1]}, b""
        if path == "/redirect-local":
            return 301, {"Location": "/article"}, b""
        if path == "/loop":
            return 302, {"Location": "/loop"}, b""
        if path.startswith("/reader/"):
            target = path[len("/reader/"):]
            return 200, {"Content-Type": "text/plain"}, f"Title: Read {target}\n\nURL Source: {target}\n\nMarkdown body.".encode()
        if path == "/search" and method == "POST":
            if headers.get("X-API-KEY") != "test-key-123":
                return 403, {"Content-Type": "application/json"}, b'{"message": "Unauthorized."}'
            q = json.loads(body)
            organic = self.serper_results[: q.get("num", 10)]
            return 200, {"Content-Type": "application/json"}, json.dumps({"searchParameters": q, "organic": organic}).encode()
        return 404, html, b"<html><body>not found</body></html>"


@pytest.fixture
def fixture_server():
    """A FixtureServer running in a thread on 127.0.0.1 for one test."""
    server = FixtureServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
