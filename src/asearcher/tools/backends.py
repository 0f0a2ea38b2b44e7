"""Where the tools get results from: search backends (hits) and page backends (whole pages).

Two small protocols keep the tools independent of the source: an in-process index, our (or
Search-R1's) retrieval server, or the web. Backends raise `ToolFailure` for failures the world
caused (server down, timeout); they return [] / None for "nothing found".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import httpx

from asearcher.api.documents import Hit, Page
from asearcher.api.retriever import PageStore, Retriever
from asearcher.tools.errors import ToolFailure

if TYPE_CHECKING:
    from asearcher.retrieval.client import RetrievalClient
    from asearcher.tools.web_fetch import WebFetcher

log = logging.getLogger(__name__)

T = TypeVar("T")


@runtime_checkable
class SearchBackend(Protocol):
    """Answers one query with up to `topk` hits, best first."""

    async def asearch(self, query: str, topk: int) -> list[Hit]: ...


@runtime_checkable
class PageBackend(Protocol):
    """Resolves a URL to a whole page; None when the source has no such page."""

    async def aget(self, url: str) -> Page | None: ...


def _remote_failure(what: str, e: Exception) -> ToolFailure:
    from asearcher.retrieval.client import RetrievalBadReply

    log.warning("retrieval server %s failed: %s", what, e)
    if isinstance(e, RetrievalBadReply):
        return ToolFailure(f"The {what} service sent a reply that could not be read ({e}). Try again later.")
    return ToolFailure(f"The {what} service is unavailable right now ({type(e).__name__}: {e}). Try again later.")


def _remote_errors() -> tuple[type[BaseException], ...]:
    from asearcher.retrieval.client import RetrievalError

    return (RetrievalError, httpx.HTTPError, OSError, asyncio.TimeoutError)


class RetrieverSearch:
    """Searches an in-process `Retriever`; the blocking search runs in a worker thread."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    async def asearch(self, query: str, topk: int) -> list[Hit]:
        return await asyncio.to_thread(self.retriever.search, query, topk)


class RemoteSearch:
    """Searches through a retrieval server (ours or Search-R1's `/retrieve`) via RetrievalClient."""

    def __init__(self, client: RetrievalClient) -> None:
        self.client = client

    async def asearch(self, query: str, topk: int) -> list[Hit]:
        try:
            (hits,) = await self.client.asearch([query], topk)
        except _remote_errors() as e:
            raise _remote_failure("search", e) from None
        return hits

    async def aclose(self) -> None:
        await self.client.aclose()


class LocalPages:
    """Pages from an in-process `PageStore` (e.g. the corpus's pages.jsonl)."""

    def __init__(self, store: PageStore) -> None:
        self.store = store

    async def aget(self, url: str) -> Page | None:
        # Stores are in-memory dict lookups: fast enough to call on the event loop.
        return self.store.get(url)


class RemotePages:
    """Pages from a retrieval server's `/access` endpoint."""

    def __init__(self, client: RetrievalClient) -> None:
        self.client = client

    async def aget(self, url: str) -> Page | None:
        try:
            (page,) = await self.client.aaccess([url])
        except _remote_errors() as e:
            raise _remote_failure("page access", e) from None
        return page

    async def aclose(self) -> None:
        await self.client.aclose()


class WebPages:
    """Pages fetched from the web by a `WebFetcher` (guarded, capped, cached)."""

    def __init__(self, fetcher: WebFetcher) -> None:
        self.fetcher = fetcher

    async def aget(self, url: str) -> Page | None:
        return await self.fetcher.afetch(url)

    async def aclose(self) -> None:
        await self.fetcher.aclose()


class _Deadline:
    """Bounds every call of the wrapped backend to `seconds`, retries inside it included.

    A backend that overruns (a hung server, a slow page, retries piling up) raises ToolFailure,
    which the tool shows the model as an observation. The timed-out work is cancelled, except an
    in-process search already running in a worker thread, which finishes in the background.
    """

    def __init__(self, inner: object, seconds: float, what: str) -> None:
        if seconds <= 0:
            raise ValueError(f"deadline must be > 0 s, got {seconds}")
        self.inner, self.seconds, self.what = inner, seconds, what

    async def _within(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.seconds):
                return await call
        except TimeoutError:
            log.warning("%s call stopped at its %g s deadline", self.what, self.seconds)
            raise ToolFailure(f"The {self.what} took longer than {self.seconds:g} s and was stopped. "
                              "Try again later.") from None

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if callable(close):
            await close()


class DeadlineSearch(_Deadline):
    """A SearchBackend whose every search ends within `seconds` (see _Deadline)."""

    def __init__(self, inner: SearchBackend, seconds: float) -> None:
        super().__init__(inner, seconds, "search")

    async def asearch(self, query: str, topk: int) -> list[Hit]:
        return await self._within(self.inner.asearch(query, topk))


class DeadlinePages(_Deadline):
    """A PageBackend whose every page fetch ends within `seconds` (see _Deadline)."""

    def __init__(self, inner: PageBackend, seconds: float) -> None:
        super().__init__(inner, seconds, "page access")

    async def aget(self, url: str) -> Page | None:
        return await self._within(self.inner.aget(url))
