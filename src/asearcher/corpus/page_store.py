"""The page store behind `/access`: canonical URL -> page, read on demand from a pages.jsonl file.

Only (offset, length) per URL stays in memory; the text is read with one positioned read per
lookup, so a 20 GB pages file costs memory in proportion to its number of pages, not its size.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from tqdm import tqdm

from asearcher.api.documents import Page
from asearcher.corpus.readers import parse_page
from asearcher.corpus.urls import normalize_url
from asearcher.errors import UserError

log = logging.getLogger(__name__)


class JsonlPageStore:
    """A `PageStore` over an uncompressed pages .jsonl file ({"url", "title", "text"} or {"url", "contents"}).

    `get` normalises the URL first (see `normalize_url`). With `case_fallback` (the default), a URL
    that differs from a stored one only in letter case also resolves, when that match is unique
    (models often write "Mona_lisa"); it costs a second small dict.
    """

    def __init__(self, path: Path, *, case_fallback: bool = True):
        self.path = Path(path)
        if self.path.suffix == ".gz":
            raise UserError(f"{self.path}: the page store needs random access; decompress it (gunzip) first")
        if not self.path.is_file():
            raise UserError(f"{self.path}: no such pages file")
        self._offsets: dict[str, tuple[int, int]] = {}
        self._folded: dict[str, str | None] | None = {} if case_fallback else None
        self._scan()
        self._fd = os.open(self.path, os.O_RDONLY)

    def _scan(self) -> None:
        dups = 0
        size = self.path.stat().st_size
        with open(self.path, "rb") as f, tqdm(total=size, desc="page index", unit="B", unit_scale=True, disable=None) as bar:
            offset = 0
            for lineno, raw in enumerate(f, 1):
                if raw.strip():
                    try:
                        url = parse_page(json.loads(raw)).url
                    except ValueError as e:
                        raise UserError(f"{self.path}:{lineno}: {e}") from None
                    if url in self._offsets:
                        dups += 1  # keep the first, as the corpus builder does
                    else:
                        self._offsets[url] = (offset, len(raw))
                        if self._folded is not None:
                            key = url.casefold()
                            self._folded[key] = None if key in self._folded else url
                offset += len(raw)
                bar.update(len(raw))
        if dups:
            log.warning("%s: %d duplicate page URL(s); the first of each is served", self.path, dups)
        log.info("page store %s: %d pages", self.path, len(self._offsets))

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, url: str) -> bool:
        return self._resolve(url) is not None

    def urls(self) -> list[str]:
        """All canonical URLs, in file order."""
        return list(self._offsets)

    def _resolve(self, url: str) -> str | None:
        try:
            canonical = normalize_url(url)
        except ValueError:  # a URL that cannot be parsed names no stored page
            return None
        if canonical in self._offsets:
            return canonical
        if self._folded is not None:
            return self._folded.get(canonical.casefold())
        return None

    def get(self, url: str) -> Page | None:
        """The page at `url` after normalisation, or None when the store has no such page.

        A URL that cannot be parsed is a page the store does not have (None), never an error:
        URLs come from models and HTTP clients, and `/access` answers null for them.
        """
        canonical = self._resolve(url)
        if canonical is None:
            return None
        offset, length = self._offsets[canonical]
        # pread is thread-safe: no shared file position, so the server can call this from threads.
        return parse_page(json.loads(os.pread(self._fd, length, offset)))

    def close(self) -> None:
        """Release the file descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except (AttributeError, OSError):
            pass
