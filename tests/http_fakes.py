"""Misbehaving servers on 127.0.0.1 for the robustness tests (imported as `http_fakes`).

They stand in for *external* servers we do not control (a retrieval server, a model server, a judge)
failing on cue: down, hanging, answering 500, invalid JSON, wrongly shaped JSON, or refusing a request
for context length. Only a fake can make the world fail deterministically; the client code under
test is the real one.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path, parsed JSON body or None, headers) -> (status, body bytes or JSON-able, content type)
Responder = Callable[[str, str, Any, dict[str, str]], tuple[int, Any]]


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout, a cancelled episode) is normal here: no traceback for it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    """A threaded HTTP server answering every request with `responder`; records what it saw."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.seen: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.seen.append({"method": self.command, "path": self.path, "body": body, "headers": headers})
                status, payload = fake.responder(self.command, self.path, body, headers)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def hanging_server():
    """A port that accepts connections (the kernel's backlog) and never answers: yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port_url() -> str:
    """The URL of a port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---- responders --------------------------------------------------------------------------------

def fixed(status: int, payload: Any) -> Responder:
    """Answer every request with `status` and `payload` (bytes sent as they are, else JSON)."""
    return lambda method, path, body, headers: (status, payload)


LLAMACPP_OVERFLOW = {"error": {"code": 400, "type": "exceed_context_size_error",
                               "message": "request (2079 tokens) exceeds the available context size (2048 tokens), "
                                          "try increasing it"}}
VLLM_OVERFLOW = {"object": "error", "type": "BadRequestError", "code": 400,
                 "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
                            "(4500 in the messages, 500 in the completion). Please reduce the length."}


def openai_model(replies: Callable[[dict[str, Any]], str] | None = None, *, refuse: Any = None,
                 models: dict[str, Any] | None = None, props: dict[str, Any] | None = None) -> Responder:
    """An OpenAI-compatible model server: /v1/models answers `models`, /props `props` (404 when None);
    chat and completions requests get 400 `refuse` when given, else the text `replies(body)`."""

    def respond(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        if path.endswith("/models"):
            return 200, models or {"object": "list", "data": [{"id": "fake-model"}]}
        if path == "/props":
            return (200, props) if props is not None else (404, {"error": {"message": "not found"}})
        if refuse is not None:
            return 400, refuse
        text = replies(body) if replies else "<answer>ok</answer>"
        if path.endswith("/chat/completions"):
            return 200, {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
        return 200, {"choices": [{"text": text, "finish_reason": "stop"}]}

    return respond
