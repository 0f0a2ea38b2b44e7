"""Shards: two dense shards of the tiny corpus behind a router answer as one index over all of it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tiny_corpus import EASY, TINY

from asearcher.errors import UserError
from asearcher.retrieval import IndexConfig, build_index, load_index
from asearcher.retrieval.shards import ShardedRetriever, merge_topk, write_router

QUERIES = [q for q, _ in EASY] + ["a river in South America", "board game with 64 squares"]


def _write(path: Path, passages) -> Path:
    path.write_text("".join(json.dumps({"id": p.id, "title": p.title, "text": p.text, "url": p.url}) + "\n"
                            for p in passages))
    return path


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("shards")
    config = IndexConfig(kind="dense")
    config.dense.dtype = "float32"  # the shards' and the single index's vectors must be comparable exactly
    config.dense.threads = 1
    build_index(_write(d / "all.jsonl", TINY), d / "one", "dense", config)
    half = len(TINY) // 2
    build_index(_write(d / "a.jsonl", TINY[:half]), d / "s0", "dense", config)
    build_index(_write(d / "b.jsonl", TINY[half:]), d / "s1", "dense", config)
    write_router(d / "router", [str(d / "s0"), str(d / "s1")])
    return load_index(d / "one"), load_index(d / "router"), d


def test_two_shards_give_the_results_of_one_index(one_and_two):
    one, router, _d = one_and_two
    assert isinstance(router, ShardedRetriever) and router.kind == "dense" and len(router) == len(TINY)
    for topk in (1, 3, 8):
        want = one.batch_search(QUERIES, topk)
        got = router.batch_search(QUERIES, topk)
        assert [[h.passage for h in b] for b in got] == [[h.passage for h in b] for b in want]
        for g, w in zip(got, want, strict=True):
            assert [h.score for h in g] == pytest.approx([h.score for h in w], abs=1e-5)  # fp32, batch padding
    assert router.search(QUERIES[0], 2) == router.batch_search(QUERIES[:1], 2)[0]


def test_a_shard_served_over_http_merges_the_same(one_and_two, tmp_path):
    import httpx

    from asearcher.retrieval.server import create_app
    from asearcher.retrieval.server_config import ServerConfig
    from asearcher.retrieval.server_runner import ServerThread
    from asearcher.retrieval.shards import RemoteShard

    one, _router, d = one_and_two
    with ServerThread(create_app(d / "s1", None, ServerConfig(max_topk=10))) as url:
        for _ in range(600):  # the app loads its index in a worker thread; /health is 503 until then
            if httpx.get(f"{url}/health").status_code == 200:
                break
            time.sleep(0.1)
        write_router(tmp_path / "mixed", [str(d / "s0"), url])
        mixed = load_index(tmp_path / "mixed")
        assert isinstance(mixed.shards[1], RemoteShard)
        got = mixed.batch_search(QUERIES, 3)
        mixed.shards[1].close()
    want = one.batch_search(QUERIES, 3)
    assert [[h.passage.id for h in b] for b in got] == [[h.passage.id for h in b] for b in want]
    assert [[h.passage.title for h in b] for b in got] == [[h.passage.title for h in b] for b in want]


def test_merge_keeps_the_best_across_shards_and_earlier_shard_on_ties():
    from asearcher.api.documents import Hit, Passage

    h = lambda i, s: Hit(Passage(i, "", ""), s)  # noqa: E731
    assert [x.passage.id for x in merge_topk([[h("a", 0.5)], [h("b", 0.9), h("c", 0.5)]], 3)] == ["b", "a", "c"]
    assert merge_topk([[], []], 3) == []


def test_bad_router_files_are_user_errors(tmp_path):
    (tmp_path / "shards.json").write_text('{"shards": 3}')
    with pytest.raises(UserError, match="shards.json"):
        load_index(tmp_path)
    with pytest.raises(UserError, match="at least one shard"):
        ShardedRetriever([])
