"""The micro-batcher: concurrent queries share `batch_search` calls and each gets its own results."""

from __future__ import annotations

import asyncio
import threading

import pytest

from asearcher.api.documents import Passage
from asearcher.retrieval.batcher import MicroBatcher
from asearcher.retrieval.bm25 import BM25Retriever

TOPICS = [
    ("Mona Lisa", "The Mona Lisa is a portrait painting by Leonardo da Vinci kept in the Louvre in Paris."),
    ("Hamlet", "Hamlet is a tragedy written by William Shakespeare about a prince of Denmark."),
    ("Mount Everest", "Mount Everest is the highest mountain above sea level, in the Himalayas on the Nepal border."),
    ("Photosynthesis", "Photosynthesis converts light energy into chemical energy stored in glucose by plants."),
    ("Jupiter", "Jupiter is the largest planet of the Solar System, a gas giant with a great red spot."),
    ("Python", "Python is a programming language created by Guido van Rossum, known for indentation."),
    ("Amazon River", "The Amazon River in South America carries more water than any other river."),
    ("Beethoven", "Ludwig van Beethoven was a German composer whose ninth symphony ends with a choir."),
]
QUERIES = ["painting Louvre", "Shakespeare tragedy prince", "highest mountain Himalayas", "plants light glucose",
           "largest planet gas giant", "programming language indentation", "river South America water",
           "German composer symphony"]


@pytest.fixture(scope="module")
def retriever() -> BM25Retriever:
    r = BM25Retriever()
    r.index(Passage(str(i), title, text) for i, (title, text) in enumerate(TOPICS))
    return r


async def test_concurrent_queries_share_one_batch_and_get_their_own_results(retriever: BM25Retriever) -> None:
    batcher = MicroBatcher(retriever.batch_search, max_batch=64, max_wait_ms=200)
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.asearch([q], 2) for q in QUERIES * 3))
    finally:
        await batcher.astop()
    # 24 callers arrived within the wait window: far fewer batches than callers.
    assert batcher.stats.queries == 24
    assert batcher.stats.batches <= 2
    assert max(batcher.stats.sizes) >= 12
    for q, (hits,) in zip(QUERIES * 3, results, strict=True):
        assert [h.passage.id for h in hits] == [h.passage.id for h in retriever.search(q, 2)]
    assert results[0][0][0].passage.title == "Mona Lisa"
    assert results[1][0][0].passage.title == "Hamlet"


async def test_each_request_keeps_its_topk_inside_a_shared_batch(retriever: BM25Retriever) -> None:
    batcher = MicroBatcher(retriever.batch_search, max_batch=64, max_wait_ms=200)
    batcher.start()
    try:
        topks = [1, 3, 5, 2, 1, 4, 3, 5]
        # common words are in most passages, so every query has at least 5 matches and the length shows topk.
        queries = [q + " the is a of" for q in QUERIES]
        results = await asyncio.gather(*(batcher.asearch([q], k) for q, k in zip(queries, topks, strict=True)))
    finally:
        await batcher.astop()
    assert batcher.stats.batches == 1  # one batch, run as one batch_search per distinct topk
    for q, k, (hits,) in zip(queries, topks, results, strict=True):
        assert len(hits) == k
        assert hits == retriever.search(q, k)


async def test_max_batch_caps_batch_size(retriever: BM25Retriever) -> None:
    batcher = MicroBatcher(retriever.batch_search, max_batch=3, max_wait_ms=100)
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.asearch([q], 1) for q in QUERIES))
    finally:
        await batcher.astop()
    assert max(batcher.stats.sizes) == 3
    assert batcher.stats.queries == len(QUERIES)
    assert [r[0][0].passage.title for r in results] == [t for t, _ in TOPICS]


async def test_a_multi_query_request_is_split_across_the_batch(retriever: BM25Retriever) -> None:
    batcher = MicroBatcher(retriever.batch_search, max_batch=64, max_wait_ms=0)
    batcher.start()
    try:
        results = await batcher.asearch(QUERIES, 1)
    finally:
        await batcher.astop()
    assert [hits[0].passage.title for hits in results] == [t for t, _ in TOPICS]


async def test_a_failing_query_fails_only_its_own_request_and_the_worker_survives(retriever: BM25Retriever) -> None:
    # Fault injection: the real retrievers have no input that makes them raise on demand, so a
    # wrapper raises for one marker query; everything else goes to the real BM25 index.
    def flaky(queries: list[str], topk: int):
        if "explode" in queries:
            raise RuntimeError("index read failed")
        return retriever.batch_search(queries, topk)

    batcher = MicroBatcher(flaky, max_batch=64, max_wait_ms=100)
    batcher.start()
    try:
        innocent = [batcher.asearch([q], 1) for q in QUERIES]
        outcomes = await asyncio.gather(batcher.asearch(["explode"], 1), *innocent, return_exceptions=True)
        (hits,) = await batcher.asearch(["painting Louvre"], 1)
    finally:
        await batcher.astop()
    # All nine shared one batch (max_wait 100 ms); only the bad query's caller sees the error.
    assert batcher.stats.sizes[len(QUERIES) + 1] == 1
    assert isinstance(outcomes[0], RuntimeError)
    assert [o[0][0].passage.title for o in outcomes[1:]] == [t for t, _ in TOPICS]
    assert hits[0].passage.title == "Mona Lisa"


async def test_asearch_before_start_is_an_error(retriever: BM25Retriever) -> None:
    with pytest.raises(RuntimeError, match="start"):
        await MicroBatcher(retriever.batch_search).asearch(["x"], 1)


def test_bad_settings_are_rejected(retriever: BM25Retriever) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(retriever.batch_search, max_batch=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        MicroBatcher(retriever.batch_search, max_wait_ms=-1)


async def test_two_workers_search_two_batches_at_once(retriever: BM25Retriever) -> None:
    # Each batch_search waits at a 2-party barrier: it can only pass if a second batch runs at the same time.
    barrier = threading.Barrier(2, timeout=5)

    def search_in_parallel(queries: list[str], topk: int):
        barrier.wait()
        return retriever.batch_search(queries, topk)

    batcher = MicroBatcher(search_in_parallel, max_batch=1, max_wait_ms=0, workers=2)
    batcher.start()
    try:
        results = await asyncio.wait_for(asyncio.gather(*(batcher.asearch([q], 1) for q in QUERIES[:4])), 20)
    finally:
        await batcher.astop()
    assert [r[0][0].passage.title for r in results] == [t for t, _ in TOPICS[:4]]
    assert batcher.stats.batches == 4


def test_workers_must_be_positive(retriever: BM25Retriever) -> None:
    with pytest.raises(ValueError, match="workers"):
        MicroBatcher(retriever.batch_search, workers=0)
