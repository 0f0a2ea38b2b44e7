"""Async client of the retrieval server (ours, or any Search-R1 / ASearcher-compatible one).

Used by the search and access tools. Transport failures (refused or reset connections,
timeouts) are retried a bounded number of times with exponential backoff; HTTP errors are not:
a 4xx means the request is wrong and repeating it cannot help.

    async with RetrievalClient("http://127.0.0.1:8000") as client:
        hits = (await client.asearch(["who wrote hamlet"]))[0]
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from asearcher.api.documents import Hit, Page, Passage

logger = logging.getLogger(__name__)


class RetrievalError(Exception):
    """The retrieval server could not answer."""


class RetrievalHTTPError(RetrievalError):
    """The server answered with an error status; `detail` is its message."""

    def __init__(self, status_code: int, detail: str, url: str) -> None:
        super().__init__(f"{url} answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class RetrievalUnreachable(RetrievalError):
    """Every attempt failed at the transport level (connection refused/reset, timeout)."""


def passage_from_doc(doc: dict[str, Any]) -> Passage:
    """A Passage from a served doc; docs holding only Search-R1's `contents` are split here."""
    title, text = doc.get("title"), doc.get("text")
    if title is None or text is None:
        contents = str(doc.get("contents", ""))
        head, sep, rest = contents.partition("\n")
        if sep and len(head) >= 2 and head.startswith('"') and head.endswith('"'):
            title, text = head[1:-1], rest
        else:
            title, text = title or "", contents
    return Passage(id=str(doc.get("id", "")), title=str(title), text=str(text), url=str(doc.get("url") or ""))


def _hit_from_item(item: Any) -> Hit:
    if isinstance(item, dict) and "document" in item:
        return Hit(passage_from_doc(item["document"]), float(item.get("score", 0.0)))
    return Hit(passage_from_doc(item), 0.0)


def _page_from_doc(doc: dict[str, Any] | None) -> Page | None:
    if doc is None:
        return None
    return Page(url=str(doc.get("url", "")), title=str(doc.get("title", "")), text=str(doc.get("contents", "")))


class RetrievalClient:
    """Talks to `/retrieve`, `/access` and `/health` of one retrieval server.

    Args:
        base_url: e.g. "http://127.0.0.1:8000".
        timeout_s: per-attempt timeout (connect, read and write).
        retries: extra attempts after a transport failure (so at most 1 + retries attempts).
        default_topk: passages per query when `asearch` is given no topk.
    """

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, retries: int = 3, default_topk: int = 3) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.default_topk = default_topk
        self.backoff_s = 0.2  # first pause; doubles per attempt, with jitter
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s,
                                       limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    async def asearch(self, queries: list[str], topk: int | None = None) -> list[list[Hit]]:
        """The top passages for each query, with scores, best first."""
        body = {"queries": list(queries), "topk": self.default_topk if topk is None else topk, "return_scores": True}
        result = await self._apost("/retrieve", body)
        with _malformed(self.base_url + "/retrieve", result, len(queries)):
            return [[_hit_from_item(item) for item in hits] for hits in result]

    async def aaccess(self, urls: list[str]) -> list[Page | None]:
        """The page at each URL, or None where the server has no such page."""
        result = await self._apost("/access", {"urls": list(urls)})
        with _malformed(self.base_url + "/access", result, len(urls)):
            return [_page_from_doc(doc) for doc in result]

    async def ahealth(self) -> bool:
        """True when the server is up and its index is loaded (one attempt, no retry)."""
        try:
            response = await self._http.get("/health")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> RetrievalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _apost(self, path: str, body: dict[str, Any]) -> list[Any]:
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.post(path, json=body)
                break
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise RetrievalUnreachable(f"{url}: {type(e).__name__}: {e} (after {attempt + 1} attempts)") from e
                pause = self.backoff_s * 2**attempt * (0.5 + random.random())
                logger.warning("%s: %s; retrying in %.2f s (%d/%d)", url, type(e).__name__, pause,
                               attempt + 1, self.retries)
                await asyncio.sleep(pause)
        if response.status_code != 200:
            raise RetrievalHTTPError(response.status_code, _detail(response), url)
        try:
            payload = response.json()
        except ValueError as e:
            raise RetrievalError(f"{url} answered 200 with a body that is not JSON: {response.text[:200]!r}") from e
        result = payload.get("result") if isinstance(payload, dict) else None
        if not isinstance(result, list):
            raise RetrievalError(f"{url} answered 200 without a 'result' list: {response.text[:200]!r}")
        return result


@contextmanager
def _malformed(url: str, result: list[Any], expected: int) -> Iterator[None]:
    """Turn a reply of the wrong shape (another server's data, not our bug) into a RetrievalError."""
    if len(result) != expected:
        raise RetrievalError(f"{url} answered {len(result)} results for {expected} requests: {str(result)[:200]!r}")
    try:
        yield
    except (TypeError, AttributeError, KeyError, ValueError) as e:
        detail = f"{type(e).__name__}: {e}"
        raise RetrievalError(f"{url} answered a malformed result ({detail}): {str(result)[:200]!r}") from None


def _detail(response: httpx.Response) -> str:
    """The server's error message: FastAPI's {"detail": ...} when present, else the body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(payload, dict) and "detail" in payload:
        return str(payload["detail"])
    return response.text[:500]
