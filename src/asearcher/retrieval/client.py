"""Async client of the retrieval server (ours, or any Search-R1 / ASearcher-compatible one).

Used by the search and access tools. A client talks to one server URL, or to the servers listed
in an ASearcher address folder (`Host*_IP*.txt`, see server_address.py): one picked at random,
another one after a failure. Every call has an overall deadline that covers all attempts and
pauses; within it, transport failures (refused or reset connections, timeouts) and "try later"
statuses (429, 502, 503, 504) are retried with exponential backoff. A 4xx is not retried: the
request is wrong and repeating it cannot help. A reply of the wrong shape raises
`RetrievalBadReply`, never a KeyError or TypeError: it is the server's fault, not ours.

    async with RetrievalClient("http://127.0.0.1:8000") as client:
        hits = (await client.asearch(["who wrote hamlet"]))[0]
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from asearcher.api.documents import Hit, Page, Passage
from asearcher.retrieval.server_address import read_addresses

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class RetrievalError(Exception):
    """The retrieval server could not answer."""


class RetrievalHTTPError(RetrievalError):
    """The server answered with an error status; `detail` is its message."""

    def __init__(self, status_code: int, detail: str, url: str) -> None:
        super().__init__(f"{url} answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class RetrievalUnreachable(RetrievalError):
    """No attempt got an answer before the retries or the deadline ran out."""


class RetrievalBadReply(RetrievalError):
    """The server answered 200 with a body that is not the Search-R1 / ASearcher reply shape."""


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


def _hit_from_item(item: Any, where: str) -> Hit:
    if isinstance(item, dict) and "document" in item:
        doc, score = item["document"], item.get("score", 0.0)
        if not isinstance(doc, dict):
            raise RetrievalBadReply(f"{where}.document is a {type(doc).__name__}, not an object")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise RetrievalBadReply(f"{where}.score is {score!r}, not a number")
        return Hit(passage_from_doc(doc), float(score))
    if not isinstance(item, dict):
        raise RetrievalBadReply(f"{where} is a {type(item).__name__}, not a document object")
    return Hit(passage_from_doc(item), 0.0)


def parse_hits(result: list[Any], n_queries: int) -> list[list[Hit]]:
    """The `result` of a /retrieve reply as hits, one list per query; RetrievalBadReply if misshapen."""
    if len(result) != n_queries:
        raise RetrievalBadReply(f"result holds {len(result)} lists for {n_queries} queries")
    out = []
    for i, hits in enumerate(result):
        if not isinstance(hits, list):
            raise RetrievalBadReply(f"result[{i}] is a {type(hits).__name__}, not a list of documents")
        out.append([_hit_from_item(item, f"result[{i}][{j}]") for j, item in enumerate(hits)])
    return out


def parse_pages(result: list[Any], n_urls: int) -> list[Page | None]:
    """The `result` of an /access reply as pages (None = unknown URL); RetrievalBadReply if misshapen."""
    if len(result) != n_urls:
        raise RetrievalBadReply(f"result holds {len(result)} entries for {n_urls} URLs")
    pages: list[Page | None] = []
    for i, doc in enumerate(result):
        if doc is None:
            pages.append(None)
        elif isinstance(doc, dict):
            pages.append(Page(url=str(doc.get("url") or ""), title=str(doc.get("title") or ""),
                              text=str(doc.get("contents") or "")))
        else:
            raise RetrievalBadReply(f"result[{i}] is a {type(doc).__name__}, not a page object or null")
    return pages


class RetrievalClient:
    """Talks to `/retrieve`, `/access` and `/health` of one retrieval server or a folder of them.

    Args:
        target: a base URL ("http://127.0.0.1:8000"), or a folder of ASearcher address files
            (`Host*_IP*.txt`); the folder is read again whenever a server fails, so servers may
            come and go.
        timeout_s: limit of one attempt (connect, send, wait for and read the reply).
        retries: extra attempts after a retryable failure (at most 1 + retries attempts).
        deadline_s: limit of one call, all attempts and pauses included (None: no overall limit).
        default_topk: passages per query when `asearch` is given no topk.
    """

    def __init__(self, target: str | Path, *, timeout_s: float = 30.0, retries: int = 3,
                 deadline_s: float | None = 60.0, default_topk: int = 3) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if timeout_s <= 0 or (deadline_s is not None and deadline_s <= 0):
            raise ValueError(f"timeout_s and deadline_s must be > 0, got {timeout_s}, {deadline_s}")
        target = str(target)
        self.address_dir: Path | None = None if target.startswith(("http://", "https://")) else Path(target)
        self.servers = read_addresses(self.address_dir) if self.address_dir else [target.rstrip("/")]
        self.base_url = random.choice(self.servers) if self.servers else ""
        self.timeout_s = timeout_s
        self.retries = retries
        self.deadline_s = deadline_s
        self.default_topk = default_topk
        self.backoff_s = 0.2  # first pause; doubles per attempt, with jitter
        self._http = httpx.AsyncClient(timeout=timeout_s, trust_env=False,
                                       limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    async def asearch(self, queries: list[str], topk: int | None = None) -> list[list[Hit]]:
        """The top passages for each query, with scores, best first."""
        body = {"queries": list(queries), "topk": self.default_topk if topk is None else topk, "return_scores": True}
        return await self._apost("/retrieve", body, lambda result: parse_hits(result, len(queries)))

    async def aaccess(self, urls: list[str]) -> list[Page | None]:
        """The page at each URL, or None where the server has no such page."""
        return await self._apost("/access", {"urls": list(urls)}, lambda result: parse_pages(result, len(urls)))

    async def ahealth(self) -> bool:
        """True when the current server is up and its index is loaded (one attempt, no retry)."""
        if not self.base_url and not self._refresh_servers():
            return False
        try:
            response = await self._http.get(self.base_url + "/health")
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

    def _refresh_servers(self, failed: str | None = None) -> bool:
        """Re-read the address folder and pick a server, another than `failed` when there is one."""
        if self.address_dir is not None:
            self.servers = read_addresses(self.address_dir)
        others = [s for s in self.servers if s != failed] or self.servers
        self.base_url = random.choice(others) if others else ""
        return bool(self.base_url)

    async def _apost(self, path: str, body: dict[str, Any], parse: Callable[[list[Any]], T]) -> T:
        """POST to the current server, failing over and retrying until the retries or the deadline end."""
        loop = asyncio.get_running_loop()
        deadline = None if self.deadline_s is None else loop.time() + self.deadline_s
        failures: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                if deadline is not None and loop.time() + pause >= deadline:
                    break
                await asyncio.sleep(pause)
            if not self.base_url and not self._refresh_servers():
                failures.append(f"no Host*_IP*.txt address file in {self.address_dir}")
                continue
            url = self.base_url + path
            limit = self.timeout_s if deadline is None else min(self.timeout_s, deadline - loop.time())
            try:
                # wait_for bounds the whole attempt: httpx's timeout applies per read, so a server
                # trickling bytes could otherwise hold an attempt far past timeout_s.
                response = await asyncio.wait_for(self._http.post(url, json=body), max(limit, 0.001))
                return parse(_result_list(response, url))
            except RetrievalHTTPError as e:
                if e.status_code not in RETRY_STATUSES and not (e.status_code >= 500 and len(self.servers) > 1):
                    raise
                failures.append(str(e))
            except RetrievalBadReply as e:
                if len(self.servers) < 2:
                    raise RetrievalBadReply(f"{url}: {e}") from None
                failures.append(f"{url}: {e}")  # another server may answer properly
            except (httpx.TransportError, TimeoutError) as e:
                failures.append(f"{url}: {type(e).__name__}: {e}".rstrip(": "))
            logger.warning("%s (attempt %d of %d)", failures[-1], attempt + 1, self.retries + 1)
            self._refresh_servers(failed=self.base_url)
        within = "" if deadline is None else f" within the {self.deadline_s:g} s deadline"
        raise RetrievalUnreachable(f"no answer after {len(failures)} attempts{within}; last: {failures[-1]}")


def _result_list(response: httpx.Response, url: str) -> list[Any]:
    """The `result` list of a 200 reply; RetrievalHTTPError for other statuses, RetrievalBadReply for bad bodies."""
    if response.status_code != 200:
        raise RetrievalHTTPError(response.status_code, _detail(response), url)
    try:
        payload = response.json()
    except ValueError:
        raise RetrievalBadReply(f"answered 200 with a body that is not JSON: {response.text[:200]!r}") from None
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, list):
        raise RetrievalBadReply(f"answered 200 without a 'result' list: {response.text[:200]!r}")
    return result


def _detail(response: httpx.Response) -> str:
    """The server's error message: FastAPI's {"detail": ...} when present, else the body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(payload, dict) and "detail" in payload:
        return str(payload["detail"])
    return response.text[:500]
