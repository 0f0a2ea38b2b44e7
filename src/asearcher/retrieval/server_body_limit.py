"""ASGI middleware refusing request bodies above a size limit (413) or slower than a time limit (408).

It checks Content-Length first, then counts the bytes actually received (a chunked upload has no
Content-Length), buffering at most `max_bytes` before the app sees the body. The whole body must
arrive within `timeout_s` of the headers, so a client sending a byte now and then cannot hold a
connection (and its buffer) forever.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimitMiddleware:
    """Answers 413 to bodies larger than `max_bytes`, 408 to bodies slower than `timeout_s`,
    400 to a malformed Content-Length."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _reply(send, 400, f"Content-Length header is not a number: {declared[:40]!r}")
                return
            if size > self.max_bytes:
                await _reply(send, 413, self._too_large(size))
                return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._aread(receive)
        except TimeoutError:
            await _reply(send, 408, f"the request body did not arrive within {self.timeout_s:g} s")
            return
        except _TooLarge as e:
            await _reply(send, 413, self._too_large(e.received, at_least=True))
            return
        if body is None:
            return  # the client went away
        replayed = False

        async def replay() -> Message:
            # The app reads the buffered body once; later calls wait for a disconnect as usual.
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _aread(self, receive: Any) -> bytes | None:
        """The whole body, None if the client disconnected; _TooLarge past max_bytes."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge(received)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, size: int, at_least: bool = False) -> str:
        prefix = "at least " if at_least else ""
        return f"request body is {prefix}{size} bytes, above this server's max_body_bytes={self.max_bytes}"


class _TooLarge(Exception):
    def __init__(self, received: int) -> None:
        self.received = received


async def _reply(send: Any, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
