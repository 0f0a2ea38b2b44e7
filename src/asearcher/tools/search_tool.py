"""The `search` tool: a query in, numbered hits (title, url, text) out as the observation."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from asearcher.api.documents import Hit
from asearcher.api.tool import ToolResult
from asearcher.tools.backends import SearchBackend
from asearcher.tools.errors import ToolFailure

log = logging.getLogger(__name__)

HitStyle = Literal["numbered", "search-r1"]


def _clip(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return cut + " …"


def format_hits(hits: list[Hit], max_chars_per_hit: int = 1000, style: HitStyle = "numbered") -> str:
    """Render hits for the model.

    "numbered" (default):      [1] Title
                               URL: https://...
                               passage text
    "search-r1" (Search-R1's):  Doc 1(Title: Title) passage text
    """
    blocks = []
    for i, h in enumerate(hits, 1):
        p = h.passage
        text = _clip(p.text, max_chars_per_hit)
        if style == "search-r1":
            blocks.append(f"Doc {i}(Title: {p.title}) {text}")
            continue
        lines = [f"[{i}] {p.title or '(untitled)'}"]
        if p.url:
            lines.append(f"URL: {p.url}")
        lines.append(text)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


class SearchTool:
    """Search tool over any `SearchBackend`.

    `acall(query=...)` returns the formatted hits; `data` holds `query`, `hits` (a list of
    `{id, title, url, text, score}` dicts, for the trace and for agents that want the URLs) and
    `source`: "web" for a web search engine's results (title and snippet), else "corpus".
    """

    name = "search"
    description = "Search for a query and get the top results (title, URL and a text snippet)."
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "The search query."}},
        "required": ["query"],
    }

    def __init__(self, backend: SearchBackend, topk: int = 5, max_chars_per_hit: int = 1000,
                 style: HitStyle = "numbered", source: str = "corpus") -> None:
        if topk < 1 or max_chars_per_hit < 1:
            raise ValueError(f"bad SearchTool settings: {topk=} {max_chars_per_hit=}")
        self.backend = backend
        self.topk = topk
        self.max_chars_per_hit = max_chars_per_hit
        self.style = style
        self.source = source

    def for_episode(self) -> SearchTool:
        """Search keeps no per-episode state: the same instance serves every episode."""
        return self

    async def acall(self, query: str = "", **_: Any) -> ToolResult:
        """Search for `query`; empty queries and empty results come back as ok=False."""
        query = (query or "").strip()
        if not query:
            return ToolResult("The search query is empty. Write a query between the search tags.", ok=False,
                              data={"query": query, "hits": []})
        t0 = time.perf_counter()
        try:
            hits = await self.backend.asearch(query, self.topk)
        except ToolFailure as e:
            return ToolResult(str(e), ok=False, data={"query": query, "hits": [], "error": str(e)})
        log.debug("search %r: %d hits in %.3fs", query, len(hits), time.perf_counter() - t0)
        data = {"query": query, "hits": [_hit_dict(h) for h in hits[: self.topk]], "source": self.source}
        if not hits:
            return ToolResult(f"No results found for {query!r}. Try different keywords.", ok=False, data=data)
        return ToolResult(format_hits(hits[: self.topk], self.max_chars_per_hit, self.style), data=data)


def _hit_dict(h: Hit) -> dict[str, Any]:
    p = h.passage
    return {"id": p.id, "title": p.title, "url": p.url, "text": p.text, "score": h.score}
