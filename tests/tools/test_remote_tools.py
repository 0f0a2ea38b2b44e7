"""Tools over a real retrieval server (uvicorn on 127.0.0.1) through make_tools("http://...")."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from asearcher.corpus import JsonlPageStore
from asearcher.retrieval import load_index
from asearcher.retrieval.client import RetrievalClient, RetrievalUnreachable
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_address import write_address_file
from asearcher.retrieval.server_runner import ServerThread
from asearcher.tools import SearchTool, ToolsConfig, aclose_tools, episode_tools, make_tools
from asearcher.tools.backends import DeadlineSearch


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


JSON = {"Content-Type": "application/json"}
GOOD_DOC = {"id": "1", "contents": '"Mona Lisa"\nA portrait by Leonardo.', "url": "https://x.org/mona"}

# Replies a broken or foreign retrieval server may send; each must become an observation.
HTML = {"Content-Type": "text/html"}
FAILED = [(500, HTML, b"<html>Internal Server Error</html>"), (500, JSON, b'{"detail": "boom"}'),
          (404, JSON, b'{"detail": "Not Found"}'), (200, HTML, b"<html>proxy login</html>"),
          (200, JSON, b'{"result": [[{"id": 1'), (200, JSON, b"null"), (200, JSON, b"[]")]
BAD_RETRIEVE = [(200, JSON, body) for body in (
    b'{"result": []}', b'{"result": [[], []]}', b'{"result": [5]}', b'{"result": [[5]]}', b'{"result": [["a"]]}',
    b'{"result": [[{"document": "text"}]]}', b'{"result": [[{"document": {}, "score": "high"}]]}',
    b'{"result": [null]}', b'{"result": "x"}', b'{"results": [[]]}')] + FAILED
BAD_ACCESS = [(200, JSON, body) for body in (
    b'{"result": []}', b'{"result": [5]}', b'{"result": ["page text"]}', b'{"result": {"url": "u"}}')] + FAILED


@pytest.mark.parametrize("reply", BAD_RETRIEVE, ids=lambda r: f"{r[0]}-{r[2][:30]!r}")
async def test_a_wrongly_shaped_search_reply_is_an_observation(fixture_server, reply) -> None:
    fixture_server.replies["/retrieve"] = reply
    tools = make_tools(fixture_server.base, ToolsConfig(retrieval_timeout_s=2.0, call_deadline_s=5.0))
    try:
        r = await tools["search"].acall(query="Mona Lisa")
    finally:
        await aclose_tools(tools)
    assert not r.ok
    assert "search service" in r.text and "Try again later" in r.text
    assert r.data["hits"] == []


@pytest.mark.parametrize("reply", BAD_ACCESS, ids=lambda r: f"{r[0]}-{r[2][:30]!r}")
async def test_a_wrongly_shaped_access_reply_is_an_observation(fixture_server, reply) -> None:
    fixture_server.replies["/access"] = reply
    tools = make_tools(fixture_server.base, ToolsConfig(retrieval_timeout_s=2.0, call_deadline_s=5.0))
    try:
        r = await episode_tools(tools)["access"].acall(url="https://x.org/mona")
    finally:
        await aclose_tools(tools)
    assert not r.ok and "page access service" in r.text


async def test_well_formed_foreign_replies_still_parse(fixture_server) -> None:
    # Search-R1's server without scores, and ASearcher's /access shape: both are read.
    fixture_server.replies["/retrieve"] = (200, JSON, json.dumps({"result": [[GOOD_DOC]]}).encode())
    fixture_server.replies["/access"] = (200, JSON, json.dumps(
        {"result": [{"url": "https://x.org/mona", "contents": "The whole page."}]}).encode())
    tools = make_tools(fixture_server.base, ToolsConfig())
    try:
        s = await tools["search"].acall(query="Mona Lisa")
        a = await episode_tools(tools)["access"].acall(url="https://x.org/mona")
    finally:
        await aclose_tools(tools)
    assert s.ok and s.data["hits"][0]["title"] == "Mona Lisa" and s.data["hits"][0]["score"] == 0.0
    assert a.ok and "The whole page." in a.text


def _hang(seconds: float):
    def reply(_body: bytes) -> tuple[int, dict, bytes]:
        time.sleep(seconds)  # the handler thread sleeps: the client sees a read timeout
        return 200, JSON, b'{"result": [[]]}'

    return reply


async def test_read_timeouts_are_retried_but_the_deadline_bounds_the_call(fixture_server) -> None:
    fixture_server.replies["/retrieve"] = _hang(3.0)
    client = RetrievalClient(fixture_server.base, timeout_s=0.4, retries=20, deadline_s=1.5)
    client.backoff_s = 0.01
    start = time.monotonic()
    async with client:
        with pytest.raises(RetrievalUnreachable, match="1.5 s deadline"):
            await client.asearch(["x"])
    elapsed = time.monotonic() - start
    # Without the deadline: 21 attempts x 0.4 s. With it: about 1.5 s, and more than one attempt.
    assert elapsed < 2.5, elapsed
    assert fixture_server.count("/retrieve") >= 2


async def test_a_hung_server_costs_one_deadline_per_tool_call(fixture_server) -> None:
    # A per-attempt timeout longer than the deadline: the tool's deadline still ends the call.
    fixture_server.replies["/retrieve"] = _hang(3.0)
    tools = make_tools(fixture_server.base, ToolsConfig(retrieval_timeout_s=30.0, call_deadline_s=1.0))
    start = time.monotonic()
    try:
        r = await tools["search"].acall(query="anything")
    finally:
        await aclose_tools(tools)
    assert time.monotonic() - start < 2.0
    assert not r.ok and ("1 s" in r.text or "deadline" in r.text)


async def test_the_deadline_bounds_any_backend(fixture_server) -> None:
    class Stuck:
        async def asearch(self, query: str, topk: int) -> list:
            await asyncio.sleep(30)
            return []

    tool = SearchTool(DeadlineSearch(Stuck(), 0.3))
    start = time.monotonic()
    r = await tool.acall(query="x")
    assert time.monotonic() - start < 1.5
    assert not r.ok and "took longer than 0.3 s" in r.text


async def test_a_folder_of_address_files_is_a_retriever_spec(server_url, tmp_path) -> None:
    # ASearcher users point --retriever at their RAG_SERVER_ADDR_DIR.
    write_address_file(tmp_path, "127.0.0.1", int(server_url.rsplit(":", 1)[1]))
    tools = make_tools(str(tmp_path), ToolsConfig(topk=2))
    try:
        found = await tools["search"].acall(query="Mona Lisa Leonardo portrait")
    finally:
        await aclose_tools(tools)
    assert found.ok and found.data["hits"][0]["url"] == "https://en.wikipedia.org/wiki/Mona_Lisa"
