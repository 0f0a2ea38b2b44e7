"""Who may talk to the UI: a Host check (against DNS rebinding) and the access token.

Bound to loopback with no token, only requests whose Host is a loopback name pass, so a web page on
another site cannot reach the UI through a rebound DNS name. With a token, every request carries it
as `?token=` (the first visit: it becomes an HttpOnly cookie and the URL is cleaned), the cookie, or
`Authorization: Bearer`; the comparison is constant-time.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from asearcher.ui.config import UIConfig

COOKIE = "asearcher_ui_token"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _same(given: str, token: str) -> bool:
    """Constant-time comparison (bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode(), token.encode())


class AccessGuard:
    """ASGI middleware enforcing the Host rule and the token on every HTTP request."""

    def __init__(self, app: ASGIApp, config: UIConfig) -> None:
        self.app = app
        self.token = config.token
        self.check_host = config.is_loopback

    def _host_ok(self, request: Request) -> bool:
        if not self.check_host:
            return True  # served beyond loopback: the token is the guard
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_NAMES or name.startswith("127.")

    def _given(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.cookies.get(COOKIE, "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response | None = None
        if not self._host_ok(request):
            response = JSONResponse({"error": "unexpected Host header"}, status_code=403)
        elif self.token:
            in_query = request.query_params.get("token", "")
            if in_query and _same(in_query, self.token):
                rest = urlencode([(k, v) for k, v in parse_qsl(request.url.query) if k != "token"])
                response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            elif not _same(self._given(request), self.token):
                response = JSONResponse({"error": "missing or wrong token"}, status_code=401)
        if response is not None:
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
