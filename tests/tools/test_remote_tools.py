"""Tools over a real retrieval server (uvicorn on 127.0.0.1) through make_tools("http://...")."""

from __future__ import annotations

from pathlib import Path

import pytest

from asearcher.corpus import JsonlPageStore
from asearcher.retrieval import load_index
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_runner import ServerThread
from asearcher.tools import ToolsConfig, aclose_tools, episode_tools, make_tools


@pytest.fixture(scope="module")
def server_url(bm25_index_dir, wiki_corpus_dir):
    app = create_app(load_index(bm25_index_dir), JsonlPageStore(Path(wiki_corpus_dir) / "pages.jsonl"))
    server = ServerThread(app)
    yield server.start()
    server.stop()


async def test_search_and_access_through_server(server_url) -> None:
    tools = make_tools(server_url, ToolsConfig(topk=3, chunk_chars=150, max_chunks=2))
    ep = episode_tools(tools)
    found = await ep["search"].acall(query="Mona Lisa Leonardo portrait")
    assert found.ok and found.data["hits"][0]["url"] == "https://en.wikipedia.org/wiki/Mona_Lisa"
    assert len(found.data["hits"]) == 3
    first = await ep["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    second = await ep["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    assert first.ok and second.ok and (first.data["chunk_index"], second.data["chunk_index"]) == (0, 1)
    missing = await ep["access"].acall(url="https://en.wikipedia.org/wiki/No_such_page_qq")
    assert not missing.ok and "No page found" in missing.text
    await aclose_tools(tools)


async def test_server_down_is_an_observation() -> None:
    # Nothing listens on 127.0.0.1:9: the client's bounded retries fail, the tool reports it.
    tools = make_tools("http://127.0.0.1:9", ToolsConfig(retrieval_timeout_s=2.0))
    r = await tools["search"].acall(query="anything")
    a = await tools["access"].acall(url="https://en.wikipedia.org/wiki/Mona_Lisa")
    await aclose_tools(tools)
    assert not r.ok and "unavailable" in r.text
    assert not a.ok and "unavailable" in a.text
