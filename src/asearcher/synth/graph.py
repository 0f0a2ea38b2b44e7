"""The link graph the synthesis agent walks: which pages a page is connected to.

Accepted shapes (all URLs are normalised with `asearcher.corpus.normalize_url`, so ASearcher's
`/w/index.php?title=A%20B` keys and this project's `/wiki/A_B` URLs meet):

- this project's `links.jsonl` (written by `asearcher corpus build`): one line per page,
  `{"url", "title", "links": [{"title", "url"}, ...]}`;
- ASearcher's Wikipedia link file: one JSON object `{url: {"links": [url, ...], "in_links": [url, ...]}}`;
- JSONL lines `{"url", "links": [...], "in_links": [...]}` whose entries are URL strings or
  `{"url": ...}` objects (`in_links` optional).

A page's neighbours are its out-links and in-links (ASearcher joins both), restricted to pages
the page store holds, without the page itself.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asearcher.corpus.urls import normalize_url
from asearcher.errors import UserError

logger = logging.getLogger(__name__)


def _entry_url(entry: Any, where: str) -> str:
    if isinstance(entry, str) and entry:
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"]:
        return entry["url"]
    raise UserError(f"{where}: a link must be a URL string or an object with a 'url', got {entry!r}")


def _url_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{where}: expected a list of links, got {type(value).__name__}")
    return [_entry_url(e, where) for e in value]


def _iter_records(path: Path) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """(where, url, out-links, in-links) of every page in the file, whichever shape it has."""
    with path.open(encoding="utf-8") as f:
        head = f.read(4096).lstrip()
    if not head:
        raise UserError(f"{path}: empty link file")
    if head.startswith("{") and path.suffix != ".jsonl":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path}:{e.lineno}: not valid JSON ({e.msg}); expected ASearcher's {{url: {{links, in_links}}}}"
            ) from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object mapping URLs to {{'links', 'in_links'}}")
        for url, rec in data.items():
            where = f"{path}: key {url!r}"
            if not isinstance(rec, dict):
                raise UserError(f"{where}: expected an object with 'links' / 'in_links', got {type(rec).__name__}")
            yield (
                where,
                url,
                _url_list(rec.get("links"), f"{where}: field 'links'"),
                _url_list(rec.get("in_links"), f"{where}: field 'in_links'"),
            )
        return
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("url"), str) or not rec["url"]:
                raise UserError(f"{where}: expected an object with a non-empty 'url' and 'links'")
            yield (
                where,
                rec["url"],
                _url_list(rec.get("links"), f"{where}: field 'links'"),
                _url_list(rec.get("in_links"), f"{where}: field 'in_links'"),
            )


class LinkGraph:
    """Neighbours of each page (out-links and in-links), over canonical URLs.

    Args:
        edges: canonical URL -> set of neighbouring canonical URLs.
    """

    def __init__(self, edges: dict[str, set[str]]) -> None:
        self._edges = edges

    @classmethod
    def load(cls, path: str | Path, known: set[str] | None = None) -> LinkGraph:
        """Read a link file (see the module docstring); with `known`, keep only pages in that set."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such link file (build one with `asearcher corpus build`)")
        edges: dict[str, set[str]] = defaultdict(set)
        n = 0
        for where, url, out, inl in tqdm(_iter_records(path), desc="link graph", unit="page", disable=None):
            try:
                src = normalize_url(url)
                n += 1
                for other in [*out, *inl]:  # an out-link of one page is an in-link of the other
                    dst = normalize_url(other)
                    edges[src].add(dst)
                    edges[dst].add(src)
            except ValueError as e:  # a URL that cannot be parsed
                raise UserError(f"{where}: {e}") from None
        clean: dict[str, set[str]] = {}
        for src, dsts in edges.items():
            if known is not None and src not in known:
                continue
            keep = {d for d in dsts if d != src and (known is None or d in known)}
            if keep:
                clean[src] = keep
        logger.info("link graph %s: %d pages read, %d with usable neighbours", path, n, len(clean))
        return cls(clean)

    def neighbours(self, url: str) -> list[str]:
        """Sorted neighbours of `url` (sorted so that a seeded choice is reproducible); [] when unknown."""
        try:
            canonical = normalize_url(url)
        except ValueError:  # cannot be parsed: a page the graph does not hold
            return []
        return sorted(self._edges.get(canonical, ()))

    def seeds(self) -> list[str]:
        """Pages with at least one neighbour, sorted: the possible start pages."""
        return sorted(self._edges)

    def __len__(self) -> int:
        return len(self._edges)
