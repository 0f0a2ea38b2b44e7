"""Reading long pages in chunks, as ASearcher's `access` tool does.

A page is capped at `chunk_chars * max_chunks` characters and split into chunks of at most
`chunk_chars` (ASearcher: 25,000 for the base-model agent, 10,000 for the reasoning agent),
preferring paragraph, then sentence, then word boundaries. Accessing the same URL again in one
episode returns the next unread chunk; after the last one the reader says the page is finished.

State is per episode: `reader.for_episode()` gives a fresh reader with the same settings and no
progress (the shared one must not be used by concurrent episodes); `reset()` clears in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.api.documents import Page

# Boundaries tried in order; a split point must fall in the last half of the window so that
# chunks never become tiny.
_BOUNDARIES = ("\n\n", "\n", ". ", "? ", "! ", "; ", " ")


def split_text(text: str, chunk_chars: int) -> list[str]:
    """Split `text` into chunks of at most `chunk_chars`, at the nicest boundary available."""
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
    chunks: list[str] = []
    pos = 0
    while pos < len(text):
        end = pos + chunk_chars
        if end >= len(text):
            chunks.append(text[pos:])
            break
        cut = -1
        for sep in _BOUNDARIES:
            i = text.rfind(sep, pos + chunk_chars // 2, end)
            if i != -1:
                cut = i + len(sep)  # the separator stays with the earlier chunk
                if cut > end:  # a multi-character separator straddling the limit
                    cut = -1
                    continue
                break
        if cut == -1:
            cut = end
        chunks.append(text[pos:cut])
        pos = cut
    return [c for c in chunks if c.strip()] or ([text[:chunk_chars]] if text else [])


@dataclass(slots=True)
class Chunk:
    """One chunk of a page as shown to the model.

    Attributes:
        url, title: the page's.
        index: 0-based chunk number; `number` (1-based) is what the model sees.
        total: number of chunks of the (capped) page.
        text: the chunk's text.
        truncated: True when the page was longer than chunk_chars * max_chunks.
    """

    url: str
    title: str
    index: int
    total: int
    text: str
    truncated: bool = False

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def is_last(self) -> bool:
        return self.index + 1 >= self.total


class PageReader:
    """Per-episode chunked reading of pages.

    Args:
        chunk_chars: characters per chunk (25,000 base agent; 10,000 reasoning agent).
        max_chunks: chunks kept per page; the page is capped at chunk_chars * max_chunks.
        stub_chars: length of the text excerpt a stub keeps.
    """

    def __init__(self, chunk_chars: int = 25_000, max_chunks: int = 10, stub_chars: int = 120) -> None:
        if chunk_chars < 1 or max_chunks < 1 or stub_chars < 0:
            raise ValueError(f"bad PageReader settings: {chunk_chars=} {max_chunks=} {stub_chars=}")
        self.chunk_chars = chunk_chars
        self.max_chunks = max_chunks
        self.stub_chars = stub_chars
        self._chunks: dict[str, list[Chunk]] = {}  # url -> chunks, for pages opened this episode
        self._next: dict[str, int] = {}  # url -> index of the next unread chunk
        self._alias: dict[str, str] = {}  # URL as the model wrote it -> the page's canonical URL

    def for_episode(self) -> PageReader:
        """A fresh reader with the same settings and no reading progress."""
        return PageReader(self.chunk_chars, self.max_chunks, self.stub_chars)

    def reset(self) -> None:
        """Forget every page read so far (start a new episode with this instance)."""
        self._chunks.clear()
        self._next.clear()
        self._alias.clear()

    def _key(self, url: str) -> str:
        return self._alias.get(url, url)

    def chunk_page(self, page: Page) -> list[Chunk]:
        """All chunks of `page` (capped), without touching the reading state."""
        cap = self.chunk_chars * self.max_chunks
        text = page.text.strip()
        # Boundary splits make chunks shorter than chunk_chars, so split a little past the cap and
        # keep max_chunks chunks: at most `cap` characters, never more than max_chunks chunks.
        parts = split_text(text[: cap + self.chunk_chars], self.chunk_chars)[: self.max_chunks]
        truncated = sum(len(p) for p in parts) < len(text)
        return [Chunk(page.url, page.title, i, len(parts), p.strip(), truncated) for i, p in enumerate(parts)]

    def is_open(self, url: str) -> bool:
        """Whether `url` (or the page it led to) was opened in this episode."""
        return self._key(url) in self._chunks

    def open(self, url: str, page: Page) -> None:
        """Remember `page` for this episode, under its canonical URL and the URL the model used.

        Opening a page that is already open keeps its reading progress, so two spellings of one
        Wikipedia URL walk through the same chunks.
        """
        key = page.url or url
        if url != key:
            self._alias[url] = key
        if key not in self._chunks:
            self._chunks[key] = self.chunk_page(page)
            self._next[key] = 0

    def next_chunk(self, url: str) -> Chunk | None:
        """The next unread chunk of an opened page, or None when all were read."""
        key = self._key(url)
        chunks = self._chunks[key]
        i = self._next[key]
        if i >= len(chunks):
            return None
        self._next[key] = i + 1
        return chunks[i]

    def progress(self, url: str) -> tuple[int, int]:
        """(chunks read, total chunks) of an opened page."""
        key = self._key(url)
        return self._next[key], len(self._chunks[key])

    def chunk(self, url: str, chunk_index: int) -> Chunk | None:
        """Chunk `chunk_index` of an opened page (None when the page or the chunk is unknown)."""
        chunks = self._chunks.get(self._key(url))
        return chunks[chunk_index] if chunks and 0 <= chunk_index < len(chunks) else None

    def stub(self, url: str, chunk_index: int) -> str:
        """A short placeholder for a chunk shown earlier, kept in later context instead of it."""
        chunks = self._chunks.get(self._key(url))
        if not chunks or not 0 <= chunk_index < len(chunks):
            return f"[page {url}, chunk {chunk_index + 1} shown earlier]"
        c = chunks[chunk_index]
        words = " ".join(c.text[: self.stub_chars].split())
        if len(c.text) > self.stub_chars:
            words = words.rsplit(" ", 1)[0] + "…"
        title = f"{c.title} " if c.title else ""
        return f"[page {title}({url}), chunk {c.number}/{c.total} shown earlier: {words}]"
