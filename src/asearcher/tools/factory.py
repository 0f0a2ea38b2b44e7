"""Builds the agent's tools from one retriever spec, the way the CLI and recipes name a source.

    None              the embedded corpus's default BM25 index, in-process (built once if missing)
    "http(s)://..."   a retrieval server (ours, or Search-R1's /retrieve; /access for pages)
    "<folder>"        holding ASearcher address files (Host*_IP*.txt): the servers they name,
                      one picked at random, another one on failure
    "web"             Serper web search + guarded web page fetching
    "<folder>"        an index folder built by `asearcher index`, in-process
"""

from __future__ import annotations

import logging
from pathlib import Path

from asearcher.api.retriever import Retriever
from asearcher.api.tool import Tool
from asearcher.errors import UserError
from asearcher.tools.access_tool import AccessTool
from asearcher.tools.backends import (
    DeadlinePages,
    DeadlineSearch,
    LocalPages,
    PageBackend,
    RemotePages,
    RemoteSearch,
    RetrieverSearch,
    SearchBackend,
    WebPages,
)
from asearcher.tools.config import ToolsConfig
from asearcher.tools.fetch_cache import FetchCache
from asearcher.tools.page_reader import PageReader
from asearcher.tools.search_tool import SearchTool
from asearcher.tools.url_guard import UrlGuard
from asearcher.tools.web_fetch import WebFetcher

log = logging.getLogger(__name__)


def make_web_fetcher(config: ToolsConfig) -> WebFetcher:
    """A guarded, capped, cached web fetcher configured from `config`."""
    return WebFetcher(
        UrlGuard(config.allow_private, tuple(config.allow_hosts)),
        timeout_s=config.fetch_timeout_s, max_bytes=config.max_bytes, max_redirects=config.max_redirects,
        cache=FetchCache(config.cache_items, config.cache_dir or None), reader_base=config.reader_base_url,
        reader_key_env=config.reader_key_env, user_agent=config.user_agent,
    )


def _local_backends(index_dir: Path) -> tuple[SearchBackend, PageBackend | None]:
    from asearcher.corpus import JsonlPageStore
    from asearcher.retrieval import load_index, read_meta

    retriever: Retriever = load_index(index_dir)
    pages = read_meta(index_dir).get("pages")
    if pages and Path(pages).is_file():
        return RetrieverSearch(retriever), LocalPages(JsonlPageStore(Path(pages)))
    log.warning("index %s names no pages file (meta.json 'pages' = %r): access will find no pages", index_dir, pages)
    return RetrieverSearch(retriever), None


def _is_address_folder(spec: str) -> bool:
    """A folder of ASearcher address files rather than an index folder (which has meta.json)."""
    from asearcher.retrieval.server_address import ADDRESS_GLOB  # lazy: asearcher.retrieval loads faiss

    folder = Path(spec).expanduser()
    return folder.is_dir() and not (folder / "meta.json").exists() and any(folder.glob(ADDRESS_GLOB))


class _NoPages:
    """Page backend for an index without pages: every URL is unknown."""

    async def aget(self, url: str) -> None:
        return None


def make_tools(retriever_spec: str | None, config: ToolsConfig | None = None) -> dict[str, Tool]:
    """{"search": SearchTool, "access": AccessTool} for the source named by `retriever_spec`.

    Use `episode_tools(tools)` per episode and `await aclose_tools(tools)` at the end.
    """
    config = config or ToolsConfig()
    pages: PageBackend | None
    source = "web" if retriever_spec == "web" else "corpus"
    if retriever_spec is None:
        from asearcher.retrieval import ensure_default_index

        search, pages = _local_backends(ensure_default_index("bm25"))
    elif retriever_spec == "web":
        from asearcher.tools.serper import SerperSearch

        search = SerperSearch.from_env(config.serper_key_env, config.serper_base_url, timeout_s=config.fetch_timeout_s)
        pages = WebPages(make_web_fetcher(config))
    elif retriever_spec.startswith(("http://", "https://")) or _is_address_folder(retriever_spec):
        from asearcher.retrieval.client import RetrievalClient

        client = RetrievalClient(retriever_spec, timeout_s=config.retrieval_timeout_s,
                                 deadline_s=config.call_deadline_s, default_topk=config.topk)
        search, pages = RemoteSearch(client), RemotePages(client)
    else:
        folder = Path(retriever_spec).expanduser()
        if not folder.is_dir():
            raise UserError(f"retriever {retriever_spec!r}: expected 'web', an http(s):// server URL, an index "
                            "folder or a folder of Host*_IP*.txt address files, and no such folder exists")
        search, pages = _local_backends(folder)
    # The deadline bounds each call whatever the backend retries inside it.
    search = DeadlineSearch(search, config.call_deadline_s)
    pages = DeadlinePages(pages, config.call_deadline_s) if pages is not None else None
    reader = PageReader(config.chunk_chars, config.max_chunks, config.stub_chars)
    return {
        "search": SearchTool(search, config.topk, config.max_chars_per_hit,
                             style=config.hit_style, source=source),  # type: ignore[arg-type]
        "access": AccessTool(pages or _NoPages(), reader),
    }
