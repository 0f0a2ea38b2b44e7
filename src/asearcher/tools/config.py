"""Configuration of the agent's tools: search size, page chunking, web fetching and its guard."""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.config import cfg
from asearcher.errors import UserError


@dataclass
class ToolsConfig:
    """Settings shared by the search and access tools (local corpus, retrieval server or web)."""

    topk: int = cfg(5, "Search results shown per query.")
    max_chars_per_hit: int = cfg(
        1000,
        "Characters of each result's text shown to the model (longer text is clipped). Prompts of style "
        "'asearcher' show ASearcher's layout instead: 5000 per document (base agent), whole (reasoning agent).",
    )
    hit_style: str = cfg(
        "numbered",
        "How hits are shown: 'numbered' ([1] title / URL / text) or 'search-r1' (Doc 1(Title: ...) text); "
        "prompts of style 'asearcher' show ASearcher's [Doc 1](url): blocks instead.",
    )
    chunk_chars: int = cfg(
        25_000,
        "Characters per page chunk returned by access (ASearcher: 25000 base agent, 10000 reasoning agent).",
    )
    max_chunks: int = cfg(10, "Chunks kept per page; a page is capped at chunk_chars * max_chunks characters.")
    stub_chars: int = cfg(
        120,
        "Characters of a chunk kept in the placeholder that replaces it in later context (prompts of style "
        "'asearcher': ASearcher's first 100 characters instead).",
    )
    fetch_timeout_s: float = cfg(
        15.0,
        "Total time allowed for fetching one web page (all redirects included), in seconds.",
    )
    max_bytes: int = cfg(2_000_000, "Bytes read from a web page at most; the rest is not downloaded.")
    max_redirects: int = cfg(5, "Redirects followed per web page; every hop is checked by the URL guard.")
    allow_private: bool = cfg(
        False,
        "Allow fetching private, loopback and link-local addresses (only for trusted intranets).",
    )
    allow_hosts: list[str] = cfg([], "Hosts, IPs or networks (CIDR) allowed even when private, e.g. ['127.0.0.1'].")
    user_agent: str = cfg("asearcher/0.1 (+https://arxiv.org/abs/2508.07976)", "User-Agent header of web fetches.")
    serper_key_env: str = cfg(
        "SERPER_API_KEY",
        "Environment variable holding the Serper API key (web search); the key is never logged.",
    )
    serper_base_url: str = cfg(
        "https://google.serper.dev",
        "Base URL of the Serper-compatible search API (POST <base>/search).",
    )
    reader_base_url: str = cfg(
        "",
        "Jina-Reader-compatible service (GET <base>/<url> returns text), e.g. https://r.jina.ai; "
        "empty: fetch pages directly.",
    )
    reader_key_env: str = cfg(
        "JINA_API_KEY",
        "Environment variable with the reader service's API key (sent as a Bearer token when set).",
    )
    cache_items: int = cfg(256, "Web pages kept in the in-memory cache.")
    cache_dir: str = cfg("", "Folder for an on-disk web page cache shared between runs; empty: memory only.")
    retrieval_timeout_s: float = cfg(30.0, "Timeout of one attempt of a request to a retrieval server, in seconds.")
    call_deadline_s: float = cfg(
        60.0,
        "Most seconds one search or access call may take, all retries and pauses included; past it the "
        "model reads a timeout observation instead of results (a hung server cannot stall an episode).",
    )

    def validate(self) -> None:
        """Raise UserError naming the field when a value is out of range."""
        for name in ("topk", "max_chars_per_hit", "chunk_chars", "max_chunks", "max_bytes", "cache_items"):
            if getattr(self, name) < 1:
                raise UserError(f"tools.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("fetch_timeout_s", "retrieval_timeout_s", "call_deadline_s"):
            if getattr(self, name) <= 0:
                raise UserError(f"tools.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_redirects < 0 or self.stub_chars < 0:
            raise UserError(f"tools.max_redirects and tools.stub_chars must be >= 0, "
                            f"got {self.max_redirects}, {self.stub_chars}")
        if self.hit_style not in ("numbered", "search-r1"):
            raise UserError(f"tools.hit_style must be 'numbered' or 'search-r1', got {self.hit_style!r}")
