"""Chunked page reading: caps, boundaries, next-chunk progress, stubs, per-episode state."""

from __future__ import annotations

from asearcher.api import Page
from asearcher.tools import PageReader, split_text


def _page(n_paragraphs: int = 30, url: str = "https://en.wikipedia.org/wiki/Test") -> Page:
    paras = [f"Paragraph {i} starts here. " + "Some sentence about things. " * 8 for i in range(n_paragraphs)]
    return Page(url=url, title="Test", text="\n\n".join(paras))


def test_split_prefers_paragraph_then_sentence_boundaries() -> None:
    text = "First paragraph here.\n\nSecond one is a bit longer. It has two sentences."
    chunks = split_text(text, 40)
    assert chunks[0] == "First paragraph here.\n\n"
    assert all(len(c) <= 40 for c in chunks)
    assert "".join(chunks) == text  # nothing lost or duplicated
    words = split_text("alpha beta gamma delta epsilon zeta eta theta", 12)
    assert all(not c.startswith(" ") or c == words[0] for c in words[1:]) and "".join(words).split() == \
        "alpha beta gamma delta epsilon zeta eta theta".split()
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]  # no boundary: hard cut


def test_chunks_are_capped_and_sized() -> None:
    page = _page(100)
    reader = PageReader(chunk_chars=1000, max_chunks=4)
    chunks = reader.chunk_page(page)
    assert len(chunks) == 4 and all(c.total == 4 for c in chunks)
    assert all(len(c.text) <= 1000 for c in chunks)
    assert all(c.truncated for c in chunks)
    assert chunks[0].text.startswith("Paragraph 0 starts here.")
    assert chunks[1].text.startswith("Paragraph ")  # split at a paragraph boundary
    small = PageReader(chunk_chars=100_000).chunk_page(page)
    assert len(small) == 1 and not small[0].truncated and small[0].text == page.text.strip()


def test_next_chunk_progress_aliases_and_reset() -> None:
    reader = PageReader(chunk_chars=1000, max_chunks=3)
    page = _page(100)
    reader.open("https://en.wikipedia.org/wiki/test", page)  # the model's spelling
    assert reader.is_open("https://en.wikipedia.org/wiki/Test")
    got = [reader.next_chunk("https://en.wikipedia.org/wiki/test") for _ in range(3)]
    assert [c.index for c in got] == [0, 1, 2]
    # The canonical URL shares the progress of its alias.
    assert reader.next_chunk(page.url) is None
    assert reader.progress(page.url) == (3, 3)
    fresh = reader.for_episode()
    assert not fresh.is_open(page.url) and fresh.chunk_chars == 1000 and fresh.max_chunks == 3
    assert reader.is_open(page.url)  # the old episode's state is untouched
    reader.reset()
    assert not reader.is_open(page.url)


def test_stub_names_page_chunk_and_first_words() -> None:
    reader = PageReader(chunk_chars=1000, max_chunks=3, stub_chars=40)
    page = _page(100)
    reader.open(page.url, page)
    stub = reader.stub(page.url, 1)
    assert stub.startswith("[page Test (https://en.wikipedia.org/wiki/Test), chunk 2/3 shown earlier: Paragraph")
    assert stub.endswith("…]") and len(stub) < 150
    assert "chunk 9" in reader.stub(page.url, 8)  # unknown chunk: still a placeholder, no error


def test_chunk_by_index_under_either_url_spelling() -> None:
    reader = PageReader(chunk_chars=1000, max_chunks=3)
    page = _page(100)
    reader.open("https://en.wikipedia.org/wiki/test", page)
    chunks = reader.chunk_page(page)
    assert reader.chunk("https://en.wikipedia.org/wiki/test", 1).text == chunks[1].text
    assert reader.chunk(page.url, 2).index == 2
    assert reader.chunk(page.url, 3) is None and reader.chunk("https://nowhere", 0) is None
