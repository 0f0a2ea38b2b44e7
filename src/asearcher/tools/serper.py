"""Web search through a Serper-compatible Google search API (the search backend of ASearcher's web agent).

Request: POST <base_url>/search, JSON {"q": query, "num": topk}, header X-API-KEY.
Response: {"organic": [{"title", "link", "snippet", "position"}, ...]} -> Hits with the link as URL.
The API key comes from an environment variable and is never logged or shown in repr().
"""

from __future__ import annotations

import asyncio
import logging
import os

import httpx

from asearcher.api.documents import Hit, Passage
from asearcher.errors import UserError
from asearcher.tools.errors import ToolFailure

log = logging.getLogger(__name__)


class SerperSearch:
    """SearchBackend over a Serper-compatible API.

    Args:
        api_key: the API key (use `from_env` to read it from the environment).
        base_url: API base URL (https://google.serper.dev, or a compatible proxy).
        timeout_s: timeout per request.
        retries: extra attempts after a network error or HTTP 429/5xx (with a short backoff).
    """

    def __init__(self, api_key: str, base_url: str = "https://google.serper.dev", *, timeout_s: float = 15.0,
                 retries: int = 2) -> None:
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_env(cls, env_var: str = "SERPER_API_KEY", base_url: str = "https://google.serper.dev",
                 **kwargs: float | int) -> SerperSearch:
        """Read the key from `env_var`; a UserError names the variable when it is unset."""
        key = os.environ.get(env_var, "").strip()
        if not key:
            raise UserError(f"web search needs a Serper API key: set the environment variable {env_var} "
                            "(or point tools.serper_key_env at the variable that holds it)")
        return cls(key, base_url, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"SerperSearch(base_url={self.base_url!r}, api_key=***)"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, trust_env=False)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def asearch(self, query: str, topk: int) -> list[Hit]:
        """Up to `topk` organic results for `query`; ToolFailure when the API fails."""
        body = {"q": query, "num": topk}
        headers = {"X-API-KEY": self._api_key, "Content-Type": "application/json"}
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))
            try:
                resp = await self._http().post(f"{self.base_url}/search", json=body, headers=headers)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e or 'network error'}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                continue
            if resp.status_code >= 400:
                # 401/403 mean a bad key: retrying will not help. The body may echo the request,
                # so it is not logged.
                raise ToolFailure(f"Web search failed: HTTP {resp.status_code} from the search API.")
            try:
                return _hits(resp.json(), topk)
            except (ValueError, TypeError, AttributeError) as e:
                raise ToolFailure(f"Web search failed: unreadable answer from the search API ({e}).") from None
        log.warning("serper search failed after %d attempts: %s", self.retries + 1, last)
        raise ToolFailure(f"Web search is unavailable right now ({last}). Try again later.")


def _hits(payload: dict, topk: int) -> list[Hit]:
    """Map Serper's `organic` results to Hits; score = 1 / position (higher is better)."""
    hits = []
    for rank, item in enumerate(payload.get("organic") or [], 1):
        link = item.get("link") or ""
        if not link:
            continue
        position = item.get("position") or rank
        passage = Passage(id=link, title=item.get("title") or "", text=item.get("snippet") or "", url=link)
        hits.append(Hit(passage=passage, score=1.0 / float(position)))
    return hits[:topk]
