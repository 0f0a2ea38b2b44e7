"""The access tool over the embedded corpus's pages: chunks, next-chunk semantics, stubs, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from asearcher.api import Page
from asearcher.corpus import JsonlPageStore
from asearcher.tools import AccessTool, LocalPages, PageReader, ToolFailure, episode_tools


@pytest.fixture(scope="module")
def store(wiki_corpus_dir):
    return JsonlPageStore(Path(wiki_corpus_dir) / "pages.jsonl")


async def test_access_reads_chunks_in_order_then_finishes(store) -> None:
    page = store.get("https://en.wikipedia.org/wiki/Mona_Lisa")
    assert page is not None and len(page.text) > 450
    tool = AccessTool(LocalPages(store), PageReader(chunk_chars=150, max_chunks=3))
    seen = []
    for i in range(3):
        r = await tool.acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
        assert r.ok and r.data["chunk_index"] == i and r.data["num_chunks"] == 3
        assert f"(chunk {i + 1} of 3;" in r.text and "Page: Mona Lisa" in r.text
        seen.append(r.text.split("\n\n", 1)[1])
    assert seen[0] != seen[1] != seen[2]
    assert page.text.startswith(seen[0])
    assert r.data["finished"] and "cut off" in r.text  # the page was longer than 3 x 150
    done = await tool.acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    assert done.ok and done.data["already_read"] and "nothing more" in done.text


async def test_url_variants_share_progress_and_stub(store) -> None:
    tool = AccessTool(LocalPages(store), PageReader(chunk_chars=150, max_chunks=5, stub_chars=30))
    first = await tool.acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    second = await tool.acall(url="en.wikipedia.org/wiki/Mona Lisa")
    assert second.ok, second.text
    assert second.data["chunk_index"] == 1
    assert first.data["stub"].startswith("[page Mona Lisa (https://en.wikipedia.org/wiki/Mona_Lisa), chunk 1/")
    assert len(first.data["stub"]) < 120


async def test_episodes_do_not_share_progress(store) -> None:
    tools = {"access": AccessTool(LocalPages(store), PageReader(chunk_chars=150))}
    a, b = episode_tools(tools), episode_tools(tools)
    ra = await a["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    await a["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    rb = await b["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    assert ra.data["chunk_index"] == rb.data["chunk_index"] == 0


async def test_access_failures_are_observations(store) -> None:
    tool = AccessTool(LocalPages(store))
    empty = await tool.acall(url=" ")
    assert not empty.ok and "empty" in empty.text
    missing = await tool.acall(url="https://en.wikipedia.org/wiki/No_such_page_xyz")
    assert not missing.ok and "No page found" in missing.text
    malformed = await tool.acall(url="http://[::1")
    assert not malformed.ok and "No page found at 'http://[::1'" in malformed.text


async def test_backends_are_tried_in_order(store) -> None:
    class Broken:
        async def aget(self, url: str) -> Page | None:
            raise ToolFailure("Timed out while fetching.")

    class Blank:
        async def aget(self, url: str) -> Page | None:
            return Page(url, "Blank", "   ")

    r = await AccessTool([Broken(), LocalPages(store)]).acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    assert r.ok and r.data["title"] == "Mona Lisa"
    only_broken = await AccessTool([Broken()]).acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    assert not only_broken.ok and "Timed out" in only_broken.text
    blank = await AccessTool(Blank()).acall(url="https://x.org/")
    assert not blank.ok and "no readable text" in blank.text
