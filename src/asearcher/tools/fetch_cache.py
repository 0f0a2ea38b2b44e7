"""A cache of fetched web pages: an in-memory LRU, optionally backed by files under a folder.

Only successful fetches are cached; failures (timeouts, 404s) are retried next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from pathlib import Path

from asearcher.api.documents import Page

log = logging.getLogger(__name__)


class FetchCache:
    """URL -> Page cache. `folder` (optional) keeps pages across runs as one JSON file per URL."""

    def __init__(self, max_items: int = 256, folder: str | Path | None = None) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.max_items = max_items
        self.folder = Path(folder) if folder else None
        self._mem: OrderedDict[str, Page] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _file(self, url: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"

    def get(self, url: str) -> Page | None:
        """The cached page for `url`, or None."""
        page = self._mem.get(url)
        if page is None and self.folder is not None:
            path = self._file(url)
            if path.is_file():
                try:
                    d = json.loads(path.read_text(encoding="utf-8"))
                    page = Page(url=d["url"], title=d["title"], text=d["text"])
                except (OSError, ValueError, KeyError) as e:
                    log.warning("ignoring unreadable cache file %s: %s", path, e)
        if page is None:
            self.misses += 1
            return None
        self.hits += 1
        self._remember(url, page)
        return page

    def put(self, url: str, page: Page) -> None:
        """Cache `page` under `url` (memory, and disk when a folder is set)."""
        self._remember(url, page)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._file(url)
            tmp = path.with_suffix(".tmp")
            # Write then rename, so a concurrent reader never sees half a file.
            tmp.write_text(json.dumps({"url": page.url, "title": page.title, "text": page.text}), encoding="utf-8")
            tmp.replace(path)

    def _remember(self, url: str, page: Page) -> None:
        self._mem[url] = page
        self._mem.move_to_end(url)
        while len(self._mem) > self.max_items:
            self._mem.popitem(last=False)

    def __len__(self) -> int:
        return len(self._mem)
