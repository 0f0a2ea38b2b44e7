"""The `access` tool: a URL in, the next unread chunk of that page out (see page_reader.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from asearcher.api.documents import Page
from asearcher.api.tool import ToolResult
from asearcher.tools.backends import PageBackend
from asearcher.tools.errors import ToolFailure
from asearcher.tools.page_reader import Chunk, PageReader

log = logging.getLogger(__name__)


def format_chunk(c: Chunk) -> str:
    """The observation for one chunk: title, URL, 'chunk i of n', what comes next, the text."""
    if c.is_last:
        more = "last chunk" + ("; the rest of the page was cut off" if c.truncated else "")
    else:
        more = "access the same URL again to read the next chunk"
    header = f"Page: {c.title or '(untitled)'}\nURL: {c.url}\n(chunk {c.number} of {c.total}; {more})"
    return f"{header}\n\n{c.text}"


class AccessTool:
    """Reads pages in chunks from one or more page backends (tried in order).

    Reading progress lives in the `PageReader`, which is per episode: call `for_episode()` to get
    a tool with fresh progress (it shares the backends, their HTTP clients and caches).

    `data` of a result: url (as requested), page_url, title, chunk_index (0-based), num_chunks,
    finished (True once no chunk is left; `already_read` too when this call showed nothing),
    stub (a short placeholder for the chunk shown now, for agents that condense old context).
    """

    name = "access"
    description = ("Open a web page by URL and read its text; long pages come in chunks, and accessing "
                   "the same URL again returns the next chunk.")
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {"url": {"type": "string", "description": "The URL of the page to read."}},
        "required": ["url"],
    }

    def __init__(self, backends: PageBackend | Sequence[PageBackend], reader: PageReader | None = None) -> None:
        self.backends: list[PageBackend] = list(backends) if isinstance(backends, Sequence) else [backends]
        if not self.backends:
            raise ValueError("AccessTool needs at least one page backend")
        self.reader = reader or PageReader()

    def for_episode(self) -> AccessTool:
        """A tool sharing the backends but with no pages read yet."""
        return AccessTool(self.backends, self.reader.for_episode())

    async def _afind(self, url: str) -> Page | str:
        """The page, or the reason it could not be read."""
        reason = f"No page found at {url!r}. Check the URL, or access a URL taken from the search results."
        for backend in self.backends:
            try:
                page = await backend.aget(url)
            except ToolFailure as e:
                reason = str(e)  # keep trying: a later backend may have the page
                continue
            if page is not None:
                return page
        return reason

    async def acall(self, url: str = "", **_: Any) -> ToolResult:
        """Return the next unread chunk of the page at `url`."""
        url = (url or "").strip()
        if not url:
            return ToolResult("The URL is empty. Write a URL between the access tags.", ok=False, data={"url": url})
        if not self.reader.is_open(url):
            found = await self._afind(url)
            if isinstance(found, str):
                return ToolResult(found, ok=False, data={"url": url, "error": found})
            if not found.text.strip():
                msg = f"The page at {url!r} has no readable text."
                return ToolResult(msg, ok=False, data={"url": url, "page_url": found.url, "error": msg})
            self.reader.open(url, found)
        chunk = self.reader.next_chunk(url)
        if chunk is None:
            _, total = self.reader.progress(url)
            return ToolResult(
                f"You have already read all {total} chunk(s) of {url}; there is nothing more on this page.",
                ok=True, data={"url": url, "finished": True, "already_read": True, "num_chunks": total},
            )
        return ToolResult(format_chunk(chunk), data={
            "url": url, "page_url": chunk.url, "title": chunk.title, "chunk_index": chunk.index,
            "num_chunks": chunk.total, "finished": chunk.is_last, "stub": self.reader.stub(url, chunk.index),
        })
