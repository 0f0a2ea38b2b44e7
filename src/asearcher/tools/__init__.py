"""The agent's tools: `search` and `access` over a local index, a retrieval server or the web.

    tools = make_tools(None, ToolsConfig())          # {"search": SearchTool, "access": AccessTool}
    ep = episode_tools(tools)                         # per-episode copies (access keeps reading progress)
    r = await ep["search"].acall(query="Mona Lisa painter")
    r = await ep["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")   # chunk 1 of n
    await aclose_tools(tools)

Failures the model or the world caused come back as `ToolResult(ok=False)`; only bugs raise.
"""

from __future__ import annotations

from typing import Any

from asearcher.api.tool import Tool
from asearcher.tools.access_tool import AccessTool, format_chunk
from asearcher.tools.backends import (
    LocalPages,
    PageBackend,
    RemotePages,
    RemoteSearch,
    RetrieverSearch,
    SearchBackend,
    WebPages,
)
from asearcher.tools.config import ToolsConfig
from asearcher.tools.errors import ToolFailure, UrlRefused
from asearcher.tools.factory import make_tools, make_web_fetcher
from asearcher.tools.fetch_cache import FetchCache
from asearcher.tools.html_text import html_to_text
from asearcher.tools.page_reader import Chunk, PageReader, split_text
from asearcher.tools.search_tool import SearchTool, format_hits
from asearcher.tools.serper import SerperSearch
from asearcher.tools.url_guard import UrlGuard
from asearcher.tools.web_fetch import WebFetcher


def episode_tools(tools: dict[str, Tool]) -> dict[str, Tool]:
    """Per-episode tools: `for_episode()` of each tool that has one (fresh reading progress)."""
    out: dict[str, Tool] = {}
    for name, tool in tools.items():
        fork = getattr(tool, "for_episode", None)
        out[name] = fork() if callable(fork) else tool
    return out


async def aclose_tools(tools: dict[str, Any]) -> None:
    """Close the HTTP clients behind the tools' backends (each one once)."""
    seen: set[int] = set()
    for tool in tools.values():
        for backend in [getattr(tool, "backend", None), *getattr(tool, "backends", [])]:
            close = getattr(backend, "aclose", None)
            if backend is not None and callable(close) and id(backend) not in seen:
                seen.add(id(backend))
                await close()


__all__ = [
    "AccessTool",
    "Chunk",
    "FetchCache",
    "LocalPages",
    "PageBackend",
    "PageReader",
    "RemotePages",
    "RemoteSearch",
    "RetrieverSearch",
    "SearchBackend",
    "SearchTool",
    "SerperSearch",
    "ToolFailure",
    "ToolsConfig",
    "UrlGuard",
    "UrlRefused",
    "WebFetcher",
    "WebPages",
    "aclose_tools",
    "episode_tools",
    "format_chunk",
    "format_hits",
    "html_to_text",
    "make_tools",
    "make_web_fetcher",
    "split_text",
]
