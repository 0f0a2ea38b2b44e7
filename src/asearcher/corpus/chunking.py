"""Cutting pages into ~N-word passages, and the stable passage-id scheme.

Passage id = first 12 hex digits of sha1(canonical page URL) + "-" + chunk index, e.g.
"9f3c0a1b2c4d-0". It depends only on the page URL and the chunking, never on the order in which
pages are read, so rebuilding a corpus (or re-ordering its input) keeps every id.
"""

from __future__ import annotations

import hashlib


def page_key(url: str) -> str:
    """12 hex digits naming a page, derived from its canonical URL only."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:12]


def passage_id(url: str, index: int) -> str:
    """The stable id of chunk `index` of the page at canonical `url`."""
    return f"{page_key(url)}-{index}"


def chunk_words(text: str, words_per_passage: int = 100) -> list[str]:
    """Split `text` into passages of about `words_per_passage` words each.

    The number of chunks is round(words / N) (at least one), and words are spread evenly over
    them, so no passage is a short leftover: 130 words stay one passage, 160 become 2 x 80.
    Whitespace is collapsed; an empty text gives [].
    """
    if words_per_passage < 1:
        raise ValueError(f"words_per_passage must be >= 1, got {words_per_passage}")
    words = text.split()
    if not words:
        return []
    n = max(1, round(len(words) / words_per_passage))
    base, extra = divmod(len(words), n)
    chunks, start = [], 0
    for i in range(n):
        end = start + base + (1 if i < extra else 0)
        chunks.append(" ".join(words[start:end]))
        start = end
    return chunks
