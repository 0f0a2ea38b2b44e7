"""Fetching web pages for the access tool: guarded, time-limited, size-capped and cached.

Redirects are followed by hand so that every hop passes the URL guard before any connection to
it is made, and each connection goes to an address the guard vetted: the HTTP client's network
backend looks the host up in the current fetch's pins instead of resolving it again (which a DNS
rebinding server could answer differently); the Host header and TLS SNI keep the host name. HTML becomes text (html_text.py); plain text is kept; PDFs and other binaries are
refused with an explanation. Optionally pages are read through a Jina-Reader-compatible service
(GET <reader_base>/<url> returns the page as text).
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from asearcher.api.documents import Page
from asearcher.tools.errors import ToolFailure, UrlRefused
from asearcher.tools.fetch_cache import FetchCache
from asearcher.tools.html_text import html_to_text
from asearcher.tools.url_guard import UrlGuard, Vetted

log = logging.getLogger(__name__)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown", "text/csv", "application/json", "text/xml",
               "application/xml")
_REDIRECTS = (301, 302, 303, 307, 308)


# host (as the HTTP client sees it) -> the vetted addresses to connect to, for the fetch running in
# this task; None outside a guarded fetch (the reader service, a configured and trusted URL).
_PINS: ContextVar[dict[str, tuple[str, ...]] | None] = ContextVar("asearcher_vetted_addresses", default=None)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the addresses the URL guard vetted, never resolving a name again."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        pins = _PINS.get()
        if pins is None:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = pins.get(host.lower())
        if addresses is None:  # cannot happen with redirects followed by hand; refuse rather than resolve
            raise httpcore.ConnectError(f"{host} was not vetted by the URL guard")
        if not addresses:  # trusted by name, or private addresses allowed: the name may be resolved
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on the pinned network backend."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 has no network_backend argument: replace the pool it built (same defaults).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=_PinnedBackend())


@dataclass(slots=True)
class _Body:
    url: str  # final URL after redirects
    content_type: str
    charset: str | None
    data: bytes
    truncated: bool


class WebFetcher:
    """Fetches a URL and returns its text as a `Page` (or raises ToolFailure with the reason).

    Args:
        guard: checks every URL and redirect hop before connecting.
        timeout_s: total time for one fetch, redirects included.
        max_bytes: bytes read at most; the body is streamed and reading stops at the cap.
        max_redirects: redirect hops followed.
        cache: page cache (None: no caching).
        reader_base: a Jina-Reader-compatible service; when set, pages are read through it.
        reader_key_env: environment variable with the reader's API key (Bearer), if any.
        user_agent: User-Agent header.
    """

    def __init__(self, guard: UrlGuard, *, timeout_s: float = 15.0, max_bytes: int = 2_000_000,
                 max_redirects: int = 5, cache: FetchCache | None = None, reader_base: str = "",
                 reader_key_env: str = "", user_agent: str = "asearcher/0.1") -> None:
        self.guard = guard
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.cache = cache
        self.reader_base = reader_base.rstrip("/")
        self.reader_key_env = reader_key_env
        self.user_agent = user_agent
        self.fetches = 0  # network fetches made (cache hits excluded), for tests and stats
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Created lazily so the client binds to the event loop that uses it; trust_env=False so a
        # proxy from the environment cannot bypass the guard's view of where we connect.
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False, trust_env=False, headers={"User-Agent": self.user_agent},
                timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)), transport=_PinnedTransport(),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def afetch(self, url: str) -> Page:
        """The page at `url` as text. Raises ToolFailure (a readable reason) when it cannot."""
        url = url.strip()
        if self.cache is not None and (page := self.cache.get(url)) is not None:
            return page
        if self.reader_base:
            # The reader service fetches the page from its own network: resolving the host here
            # would only leak a DNS query, so check the scheme and literal addresses only.
            self.guard.check_literal(url)
            vetted = None
        else:
            vetted = await self.guard.avet(url)  # refuse before any network activity
        try:
            async with asyncio.timeout(self.timeout_s):
                page = await (self._areader(url) if vetted is None else self._adirect(url, vetted))
        except TimeoutError:
            raise ToolFailure(f"Timed out after {self.timeout_s:g}s while fetching {url}.") from None
        except httpx.HTTPError as e:
            raise ToolFailure(f"Could not fetch {url}: {type(e).__name__}: {e or 'network error'}.") from None
        except httpx.InvalidURL as e:  # not an HTTPError: a URL the guard's parser accepts but httpx's does not
            raise UrlRefused(f"Cannot access {url!r}: malformed URL ({e}).") from None
        if self.cache is not None:
            self.cache.put(url, page)
        return page

    async def _adirect(self, url: str, vetted: Vetted) -> Page:
        body = await self._aget_following(url, vetted)
        return _to_page(body, url)

    async def _aget_following(self, url: str, vetted: Vetted) -> _Body:
        """Follow redirects from `url` (already vetted); every hop is resolved once and checked."""
        current = url
        for hop in range(self.max_redirects + 1):
            if hop:
                vetted = await self.guard.avet(current)
            pins = _PINS.set({httpx.URL(current).raw_host.decode("ascii").lower(): vetted.addresses})
            self.fetches += 1
            try:
                body = await self._aget_one(current)
            finally:
                _PINS.reset(pins)
            if isinstance(body, _Body):
                return body
            log.debug("redirect %s -> %s", url, body)
            current = body
        raise ToolFailure(f"Could not fetch {url}: more than {self.max_redirects} redirects.")

    async def _aget_one(self, current: str) -> _Body | str:
        """The body at `current`, or the URL it redirects to."""
        async with self._http().stream("GET", current) as resp:
            if resp.status_code in _REDIRECTS and "location" in resp.headers:
                return urljoin(current, resp.headers["location"])
            if resp.status_code >= 400:
                raise ToolFailure(f"Could not fetch {current}: HTTP {resp.status_code} {resp.reason_phrase}.")
            data, truncated = await self._aread_capped(resp)
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            return _Body(current, ctype, resp.charset_encoding, data, truncated)

    async def _aread_capped(self, resp: httpx.Response) -> tuple[bytes, bool]:
        buf = bytearray()
        async for part in resp.aiter_bytes():
            buf.extend(part)
            if len(buf) >= self.max_bytes:
                log.info("page %s exceeds %d bytes; keeping the first %d", resp.url, self.max_bytes, self.max_bytes)
                return bytes(buf[: self.max_bytes]), True
        return bytes(buf), False

    async def _areader(self, url: str) -> Page:
        headers = {"Accept": "text/plain"}
        key = os.environ.get(self.reader_key_env, "") if self.reader_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.fetches += 1
        async with self._http().stream("GET", f"{self.reader_base}/{url}", headers=headers) as resp:
            if resp.status_code >= 400:
                raise ToolFailure(f"Could not fetch {url} through the reader service: HTTP {resp.status_code}.")
            data, _ = await self._aread_capped(resp)
            text = data.decode(resp.charset_encoding or "utf-8", errors="replace").strip()
        if not text:
            raise ToolFailure(f"The reader service returned no text for {url}.")
        title = ""
        first = text.split("\n", 1)[0]
        if first.lower().startswith("title:"):  # Jina Reader starts with "Title: ..."
            title = first[6:].strip()
        return Page(url=url, title=title, text=text)


def _sniff_type(data: bytes) -> str:
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if b"\x00" in head:
        return "application/octet-stream"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    return "text/plain"


def _to_page(body: _Body, requested: str) -> Page:
    """Turn a fetched body into a Page; refuse what is not HTML or text."""
    ctype = body.content_type or _sniff_type(body.data)
    if ctype in _HTML_TYPES:
        html = body.data.decode(body.charset or "utf-8", errors="replace")
        title, text = html_to_text(html, body.url)
    elif ctype in _TEXT_TYPES or ctype.startswith("text/"):
        title, text = "", body.data.decode(body.charset or "utf-8", errors="replace").strip()
    else:
        kind = "a PDF" if ctype == "application/pdf" else f"a binary file ({ctype})"
        raise ToolFailure(f"Cannot read {requested}: it is {kind}; only HTML and plain-text pages can be read.")
    if body.truncated:
        log.debug("page %s truncated at the byte cap", requested)
    return Page(url=body.url, title=title or body.url, text=text)
