"""The search tool on the real BM25 index of the embedded corpus, and its failure observations."""

from __future__ import annotations

import pytest

from asearcher.api import Hit, Passage
from asearcher.retrieval import load_index
from asearcher.tools import RetrieverSearch, SearchTool, ToolFailure, ToolsConfig, format_hits, make_tools
from asearcher.errors import UserError


@pytest.fixture(scope="module")
def bm25(bm25_index_dir):
    return load_index(bm25_index_dir)


async def test_search_formats_numbered_hits_and_keeps_data(bm25) -> None:
    tool = SearchTool(RetrieverSearch(bm25), topk=3, max_chars_per_hit=80)
    r = await tool.acall(query="Mona Lisa Leonardo da Vinci portrait")
    assert r.ok
    assert r.text.startswith("[1] ")
    assert "URL: https://en.wikipedia.org/wiki/Mona_Lisa" in r.text
    assert "[3] " in r.text and "[4] " not in r.text
    hits = r.data["hits"]
    assert len(hits) == 3 and hits[0]["title"] == "Mona Lisa"
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    # Each hit's text is clipped for the model but kept whole in data.
    first_block = r.text.split("\n\n")[0]
    assert len(first_block.splitlines()[-1]) <= 82 and len(hits[0]["text"]) > 80


async def test_search_failures_are_observations(bm25) -> None:
    tool = SearchTool(RetrieverSearch(bm25))
    empty = await tool.acall(query="   ")
    assert not empty.ok and "empty" in empty.text
    none = await tool.acall(query="qwxzzv plorkh")
    assert not none.ok and "No results" in none.text and none.data["hits"] == []

    class Down:
        async def asearch(self, query: str, topk: int) -> list[Hit]:
            raise ToolFailure("The search service is unavailable right now.")

    down = await SearchTool(Down()).acall(query="anything")
    assert not down.ok and "unavailable" in down.text


def test_search_r1_style() -> None:
    hits = [Hit(Passage("0", "Paris", "Paris is the capital of France.", ""), 2.0)]
    assert format_hits(hits, style="search-r1") == "Doc 1(Title: Paris) Paris is the capital of France."


async def test_make_tools_from_index_folder(bm25_index_dir) -> None:
    tools = make_tools(str(bm25_index_dir), ToolsConfig(topk=2, chunk_chars=200))
    r = await tools["search"].acall(query="Eiffel Tower Paris")
    assert r.ok and len(r.data["hits"]) == 2
    page = await tools["access"].acall(url=r.data["hits"][0]["url"])
    assert page.ok and page.data["chunk_index"] == 0 and len(page.text) < 400


def test_make_tools_rejects_unknown_spec(tmp_path) -> None:
    with pytest.raises(UserError, match="no-such-folder"):
        make_tools(str(tmp_path / "no-such-folder"))
