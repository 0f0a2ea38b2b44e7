"""Hundreds of parallel requests through the real server and the embedded corpus's BM25 index."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx

from asearcher.corpus import JsonlPageStore
from asearcher.retrieval import load_index, read_meta
from asearcher.retrieval.client import RetrievalClient
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import ServerThread


async def test_hundreds_of_parallel_requests_are_all_answered_correctly(bm25_index_dir: Path) -> None:
    reference = load_index(bm25_index_dir)
    store = reference.store
    rng = random.Random(0)
    rows = rng.sample(range(len(reference)), 300)
    # Queries are the opening words of real passages, so each has a well-defined top-3.
    queries = [" ".join(store.get(r).text.split()[:6]) or store.get(r).title for r in rows]
    topks = [rng.choice([1, 3, 5]) for _ in queries]
    expected = [[h.passage.id for h in reference.search(q, k)] for q, k in zip(queries, topks, strict=True)]
    pages = JsonlPageStore(Path(read_meta(bm25_index_dir)["pages"]))

    app = create_app(bm25_index_dir, pages, ServerConfig(max_wait_ms=2))
    server = ServerThread(app)
    url = await asyncio.to_thread(server.start)
    try:
        async with RetrievalClient(url, timeout_s=60) as client:
            for _ in range(400):  # the index loads in the background
                if await client.ahealth():
                    break
                await asyncio.sleep(0.05)
            results = await asyncio.gather(*(client.asearch([q], k) for q, k in zip(queries, topks, strict=True)))
            urls = [hits[0].passage.url for (hits,) in results[:50] if hits]
            page_list = await asyncio.gather(*(client.aaccess([u]) for u in urls))
        health = httpx.get(f"{url}/health").json()
    finally:
        server.stop()

    got = [[h.passage.id for h in hits] for (hits,) in results]
    assert got == expected
    assert all(p is not None and p.url == u for (p,), u in zip(page_list, urls, strict=True))
    batches = health["batches"]
    assert batches["queries"] == len(queries)
    # Parallel single-query requests were merged: fewer batch_search rounds than requests.
    assert batches["max_batch"] > 1
    assert batches["batches"] < len(queries)


async def test_hostile_queries_in_a_shared_batch_fail_no_request(tiny_passages) -> None:
    # 31 plain requests and hostile ones arrive together, so they share micro-batches; each is
    # answered 200 with its own results (once, an underscore made the whole batch a 500).
    from asearcher.retrieval.bm25 import BM25Retriever

    r = BM25Retriever()
    r.index(tiny_passages)
    hostile = [b'{"queries": ["Mona_Lisa"]}', b'{"queries": ["\\ud800 title:(Mona AND \\"Lisa"]}',
               b'{"queries": ["\\u0000\\u202e NOT OR [a TO z]"]}']
    with ServerThread(create_app(r, None, ServerConfig(max_wait_ms=50))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            plain = [http.post("/retrieve", json={"queries": [f"Mona Lisa painting {i}"], "topk": 1})
                     for i in range(31)]
            bad = [http.post("/retrieve", content=b, headers={"content-type": "application/json"}) for b in hostile]
            answers = await asyncio.gather(*plain, *bad)
        health = httpx.get(f"{url}/health").json()
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers if a.status_code != 200]
    assert all(a.json()["result"][0][0]["id"] == "p0" for a in answers[:31])
    assert answers[31].json()["result"][0][0]["id"] == "p0"  # Mona_Lisa searches mona + lisa
    assert health["batches"]["max_batch"] > 1
