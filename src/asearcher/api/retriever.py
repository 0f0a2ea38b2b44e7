"""Retriever and page-store protocols: the library side of the retrieval service."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from asearcher.api.documents import Hit, Page, Passage


@runtime_checkable
class Retriever(Protocol):
    """Searches a passage corpus. Implementations: BM25, dense (faiss), hybrid (RRF).

    `index` consumes a stream (the corpus may be 20 GB); `save`/`load` round-trip the index
    through a directory so that `asearcher serve` starts without re-indexing.
    """

    kind: str

    def index(self, passages: Iterable[Passage]) -> None:
        """Build the index from a stream of passages (replaces any previous index)."""
        ...

    def search(self, query: str, topk: int) -> list[Hit]:
        """The `topk` best passages for one query, best first."""
        ...

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """`search` for many queries at once; faster per query than one call each."""
        ...

    def save(self, out_dir: Path) -> None:
        """Write the index to `out_dir` (created if missing)."""
        ...

    def __len__(self) -> int:
        """Number of indexed passages."""
        ...


@runtime_checkable
class PageStore(Protocol):
    """Resolves a URL to a whole page (the `/access` endpoint and the local `access` tool)."""

    def get(self, url: str) -> Page | None:
        """The page at `url` after URL normalisation, or None when the store has no such page."""
        ...
