"""RetrievalClient against the real server on 127.0.0.1: results, pages, retries, no retry on 4xx."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from asearcher.api.documents import Passage
from asearcher.corpus import JsonlPageStore
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.client import RetrievalClient, RetrievalHTTPError, RetrievalUnreachable, passage_from_doc
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import ServerThread

WIKI = "https://en.wikipedia.org/wiki/"
PAGES = [
    ("Mona Lisa", "The Mona Lisa is a portrait painting by Leonardo da Vinci kept in the Louvre in Paris."),
    ("Hamlet", "Hamlet is a tragedy written by William Shakespeare about a prince of Denmark."),
    ("Jupiter", "Jupiter is the largest planet of the Solar System, a gas giant with a great red spot."),
]


@pytest.fixture(scope="module")
def retriever() -> BM25Retriever:
    r = BM25Retriever()
    r.index(Passage(str(i), t, text, WIKI + t.replace(" ", "_")) for i, (t, text) in enumerate(PAGES))
    return r


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> JsonlPageStore:
    path = tmp_path_factory.mktemp("pages") / "pages.jsonl"
    path.write_text("".join(json.dumps({"url": WIKI + t.replace(" ", "_"), "title": t, "text": text}) + "\n"
                            for t, text in PAGES))
    return JsonlPageStore(path)


class CountingApp:
    """Counts the HTTP requests reaching the app, to show how many attempts the client made."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def served(retriever: BM25Retriever, pages: JsonlPageStore):
    app = CountingApp(create_app(retriever, pages, ServerConfig(max_topk=5)))
    with ServerThread(app) as url:
        yield url, app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_asearch_returns_hits_with_passages_and_scores(served) -> None:
    url, _ = served
    async with RetrievalClient(url) as client:
        assert await client.ahealth()
        louvre, planet = await client.asearch(["Louvre painting", "largest planet"], topk=2)
    assert louvre[0].passage == Passage("0", "Mona Lisa", PAGES[0][1], WIKI + "Mona_Lisa")
    assert louvre[0].score > 0
    assert planet[0].passage.title == "Jupiter"
    assert len(louvre) <= 2


async def test_aaccess_returns_pages_and_none_for_unknown(served) -> None:
    url, _ = served
    async with RetrievalClient(url) as client:
        hamlet, missing = await client.aaccess(["https://en.wikipedia.org/w/index.php?title=Hamlet", WIKI + "Nope"])
    assert hamlet is not None and hamlet.title == "Hamlet" and hamlet.text == PAGES[1][1]
    assert hamlet.url == WIKI + "Hamlet"
    assert missing is None


async def test_4xx_raises_with_the_server_message_and_is_not_retried(served) -> None:
    url, app = served
    before = app.requests
    async with RetrievalClient(url, retries=3) as client:
        with pytest.raises(RetrievalHTTPError) as info:
            await client.asearch(["x"], topk=50)
    assert info.value.status_code == 422
    assert "max_topk=5" in info.value.detail
    assert app.requests - before == 1


async def test_refused_connection_is_retried_until_the_server_comes_up(retriever: BM25Retriever) -> None:
    port = _free_port()
    client = RetrievalClient(f"http://127.0.0.1:{port}", retries=8, timeout_s=5)
    client.backoff_s = 0.05  # keeps the test short; the schedule still doubles per attempt
    assert not await client.ahealth()
    search = asyncio.create_task(client.asearch(["Shakespeare"], topk=1))
    await asyncio.sleep(0.3)  # the first attempts fail: nothing listens yet
    assert not search.done()
    server = ServerThread(create_app(retriever, None, ServerConfig()), port=port)
    await asyncio.to_thread(server.start)
    try:
        (hits,) = await asyncio.wait_for(search, 30)
    finally:
        await client.aclose()
        server.stop()
    assert hits[0].passage.title == "Hamlet"


async def test_gives_up_after_bounded_retries() -> None:
    client = RetrievalClient(f"http://127.0.0.1:{_free_port()}", retries=2)
    client.backoff_s = 0.01
    async with client:
        with pytest.raises(RetrievalUnreachable, match="after 3 attempts"):
            await client.asearch(["x"])


def test_docs_of_plain_search_r1_servers_are_split_into_title_and_text() -> None:
    p = passage_from_doc({"id": 7, "contents": '"Mona Lisa"\nA painting by Leonardo.'})
    assert p == Passage("7", "Mona Lisa", "A painting by Leonardo.", "")
    assert passage_from_doc({"id": "1", "contents": "no title line"}).text == "no title line"


def test_negative_retries_are_rejected() -> None:
    with pytest.raises(ValueError, match="retries"):
        RetrievalClient("http://127.0.0.1:1", retries=-1)
