"""Clients written to Search-R1's and ASearcher's contracts work unchanged against our server.

The contracts, as read in the peers' code: Search-R1's `retrieval_server.py` takes
`{"queries": [...], "topk": int|null, "return_scores": bool}` in a lax pydantic model (unknown keys
ignored, "3" read as 3, a falsy topk meaning the server default) and answers
`{"result": [[doc | {"document": doc, "score": s}, ...], ...]}`; its rollout posts every active
rollout's query at once, `[]` on turns where none searches, and reads `document.contents`
("title"\\ntext). ASearcher's local server adds `/access` (`{"urls": [...]}` -> `{"result": [page|null]}`)
and writes `Host{ip}_IP{port}.txt` holding `ip:port`; its client (aiohttp) globs that folder, reads
each line as an address, picks one at random, posts to `http://{addr}/retrieve` with
`return_scores: false`, and reads each doc's `contents` and `url`, and each page's `contents`.
The client functions below are our own code written to those shapes.
"""

from __future__ import annotations

import asyncio
import glob
import json
import random
from pathlib import Path

import aiohttp
import pytest
import requests
from fastapi.testclient import TestClient

from asearcher.corpus import JsonlPageStore
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.client import RetrievalClient
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_address import read_addresses, write_address_file
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import ServerThread

from tiny_corpus import TINY


@pytest.fixture(scope="module")
def retriever() -> BM25Retriever:
    r = BM25Retriever()
    r.index(TINY)
    return r


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> JsonlPageStore:
    path = tmp_path_factory.mktemp("pages") / "pages.jsonl"
    path.write_text("".join(json.dumps({"url": p.url, "title": p.title, "text": p.text + " More."}) + "\n"
                            for p in TINY if p.url))
    return JsonlPageStore(path)


@pytest.fixture(scope="module")
def server(retriever: BM25Retriever, pages: JsonlPageStore):
    with ServerThread(create_app(retriever, pages, ServerConfig())) as url:
        yield url


def search_r1_batch_search(url: str, queries: list[str], topk: int = 3) -> list[str]:
    """A Search-R1 rollout's search step: one POST for all queries, passages formatted per query."""
    payload = {"queries": queries, "topk": topk, "return_scores": True}
    results = requests.post(url + "/retrieve", json=payload, timeout=30).json()["result"]
    out = []
    for result in results:
        text = ""
        for i, item in enumerate(result):
            title, _, body = item["document"]["contents"].partition("\n")
            text += f"Doc {i + 1}(Title: {title}) {body}\n"
        out.append(text)
    return out


class AsearcherStyleClient:
    """ASearcher's local-server client: address files, random server, aiohttp, contents + url."""

    def __init__(self, addr_dir: str) -> None:
        self.addr_dir = addr_dir
        self.server_addr = random.choice(self._servers())

    def _servers(self) -> list[str]:
        servers: list[str] = []
        for name in glob.glob(self.addr_dir + "/Host*_IP*.txt"):
            with open(name) as f:
                servers.extend(f.readlines())
        return servers

    async def query(self, req_meta: dict) -> list[dict]:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://{self.server_addr}/retrieve", json=req_meta) as response:
                response.raise_for_status()
                res = await response.json()
        return [{"documents": [d["contents"] for d in r], "urls": [d["url"] for d in r]} for r in res["result"]]

    async def access(self, urls: list[str]) -> list[str]:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://{self.server_addr}/access", json={"urls": urls}) as response:
                response.raise_for_status()
                res = await response.json()
        return [r["contents"] if r is not None else "" for r in res["result"]]


def test_search_r1_rollout_with_turns_where_nobody_searches(server: str) -> None:
    first = search_r1_batch_search(server, ["Who painted the Mona Lisa?", "tallest mountain in the Himalayas"])
    # Search-R1's corpus quotes titles in `contents`, and its rollout shows them with the quotes.
    assert first[0].startswith('Doc 1(Title: "Mona Lisa") The Mona Lisa is a portrait')
    assert first[1].startswith('Doc 1(Title: "Mount Everest")') and first[1].count("Doc ") == 3
    assert search_r1_batch_search(server, []) == []  # once a 422, which crashed the rollout with KeyError
    assert search_r1_batch_search(server, ["who discovered penicillin"], topk=1)[0].startswith('Doc 1(Title: "Penicillin")')


async def test_asearcher_client_finds_the_server_through_its_address_file(server: str, tmp_path: Path) -> None:
    port = int(server.rsplit(":", 1)[1])
    path = write_address_file(tmp_path, "127.0.0.1", port)
    assert path.name == f"Host127.0.0.1_IP{port}.txt" and path.read_text() == f"127.0.0.1:{port}"
    client = AsearcherStyleClient(str(tmp_path))
    (found,) = await client.query({"queries": ["which tower stands in Paris"], "topk": 10, "return_scores": False})
    assert found["urls"][0] == "u/eiffel" and found["documents"][0].startswith('"Eiffel Tower"\n')
    page, missing = await client.access([found["urls"][0], "u/none"])
    assert page.startswith("The Eiffel Tower is") and missing == ""
    assert await client.access([]) == []


def _ids(reply: dict) -> list[list[str]]:
    return [[d["id"] for d in docs] for docs in reply["result"]]


@pytest.mark.parametrize(
    ("body", "topk"),
    [
        ({"queries": ["Mona Lisa painter"]}, 3),
        ({"queries": ["Mona Lisa painter"], "topk": None}, 3),
        ({"queries": ["Mona Lisa painter"], "topk": 0}, 3),
        ({"queries": ["Mona Lisa painter"], "topk": "2"}, 2),
        ({"queries": ["Mona Lisa painter"], "topk": 2.0}, 2),
        ({"queries": ["Mona Lisa painter"], "topk": 1, "top_k": 9, "model": "e5", "return_scores": False}, 1),
        ({"queries": ["Mona Lisa painter", "Paris tower"], "topk": "5", "return_scores": True}, 5),
    ],
)
def test_requests_the_peers_accept_get_the_peers_answer(retriever, pages, body: dict, topk: int) -> None:
    with TestClient(create_app(retriever, pages, ServerConfig())) as http:
        r = http.post("/retrieve", json=body)
    assert r.status_code == 200, r.text
    want = [[h.passage.id for h in retriever.search(q, topk)] for q in body["queries"]]
    got = r.json()
    if body.get("return_scores"):
        got = {"result": [[item["document"] for item in docs] for docs in got["result"]]}
    assert _ids(got) == want


def test_empty_lists_get_empty_results(retriever, pages) -> None:
    with TestClient(create_app(retriever, pages, ServerConfig())) as http:
        assert http.post("/retrieve", json={"queries": []}).json() == {"result": []}
        assert http.post("/retrieve", json={"queries": [], "topk": 0, "return_scores": True}).json() == {"result": []}
        r = http.post("/access", json={"urls": []})
        assert (r.status_code, r.json()) == (200, {"result": []})
        r = http.post("/access", json={"urls": ["u/mona"], "unknown": 1})
        assert r.json()["result"][0]["title"] == "Mona Lisa"


async def test_our_client_picks_from_an_address_folder_and_fails_over(retriever, tmp_path: Path) -> None:
    dead = ServerThread(create_app(retriever))
    dead_port = int(dead.start().rsplit(":", 1)[1])
    dead.stop()  # its address file stays behind, as after a crash
    write_address_file(tmp_path, "127.0.0.1", dead_port)
    with ServerThread(create_app(retriever)) as live:
        write_address_file(tmp_path, "127.0.0.1", int(live.rsplit(":", 1)[1]))
        assert read_addresses(tmp_path) == sorted([f"http://127.0.0.1:{dead_port}", live])
        random.seed(0)
        picked = set()
        for _ in range(12):
            async with RetrievalClient(str(tmp_path), retries=2) as client:
                client.backoff_s = 0.01
                picked.add(client.base_url)
                (hits,) = await client.asearch(["Who painted the Mona Lisa?"], topk=1)
                assert hits[0].passage.id == "p0"
    assert len(picked) == 2  # both were picked first at some point; the dead one failed over


async def test_our_client_waits_for_a_server_to_announce_itself(retriever, tmp_path: Path) -> None:
    client = RetrievalClient(str(tmp_path), retries=20, deadline_s=20)
    client.backoff_s = 0.05
    search = asyncio.create_task(client.asearch(["penicillin"], topk=1))
    await asyncio.sleep(0.2)
    assert not search.done()  # no address file yet: the client keeps looking within its deadline
    with ServerThread(create_app(retriever)) as url:
        write_address_file(tmp_path, "127.0.0.1", int(url.rsplit(":", 1)[1]))
        (hits,) = await asyncio.wait_for(search, 20)
    await client.aclose()
    assert hits[0].passage.id == "p8"
