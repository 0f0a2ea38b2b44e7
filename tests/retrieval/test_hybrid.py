"""Hybrid retrieval: RRF arithmetic against a hand-computed example, and fused search on the tiny corpus."""

from __future__ import annotations

import pytest
from tiny_corpus import EASY

from asearcher.api.documents import Hit, Passage
from asearcher.retrieval import HybridRetriever, IndexConfig, load_index, rrf_fuse

pytestmark = pytest.mark.numerics  # dense scores depend on dtype "auto": CI reruns this in fp32


def _hits(ids: str) -> list[Hit]:
    return [Hit(Passage(i, "", ""), 0.0) for i in ids]


def test_rrf_matches_hand_computation():
    # k=1. List A: a b c; list B: c d a.
    # a: 1/(1+1) + 1/(1+3) = 0.75; c: 1/(1+3) + 1/(1+1) = 0.75 (tie: a seen first);
    # b: 1/(1+2) = 0.333; d: 1/(1+2) = 0.333 (tie: b seen first).
    fused = rrf_fuse([_hits("abc"), _hits("cda")], k=1, topk=4)
    assert [h.passage.id for h in fused] == ["a", "c", "b", "d"]
    assert [round(h.score, 4) for h in fused] == [0.75, 0.75, 0.3333, 0.3333]


def test_rrf_k_changes_the_order():
    # x is 1st in one list only; y is 2nd in both. k=0: x=1.0, y=0.5+0.5=1.0 -> tie, x first.
    # k=60: x=1/61=0.01639, y=2/62=0.03226 -> y first.
    lists = [_hits("xy"), _hits("zy")]
    assert [h.passage.id for h in rrf_fuse(lists, k=60, topk=1)] == ["y"]
    assert rrf_fuse(lists, k=60, topk=10)[0].score == pytest.approx(2 / 62)


@pytest.fixture(scope="module")
def hybrid(tiny_dense_dir):
    return load_index(tiny_dense_dir)


@pytest.mark.parametrize(("query", "want"), EASY)
def test_right_passage_first(hybrid, query, want):
    assert isinstance(hybrid, HybridRetriever)
    assert hybrid.search(query, 3)[0].passage.id == want


def test_fuses_the_two_halves(hybrid):
    q = "Who painted the Mona Lisa?"
    fetch = hybrid.config.candidates
    expected = rrf_fuse([hybrid.bm25.search(q, fetch), hybrid.dense.search(q, fetch)], hybrid.config.rrf_k, 5)
    assert hybrid.search(q, 5) == expected
    assert len(hybrid.search(q, 2)) == 2
    queries = [q for q, _ in EASY]
    assert [[h.passage.id for h in b] for b in hybrid.batch_search(queries, 3)] == [
        [h.passage.id for h in hybrid.search(q, 3)] for q in queries
    ]


def test_save_then_load_gives_the_hits_and_scores_of_the_built_index(hybrid, tiny_passages, tmp_path):
    built = HybridRetriever.create(IndexConfig(kind="hybrid"), tmp_path / "work")
    built.dense._embedder = hybrid.dense.embedder  # share the loaded model: loading it again costs seconds
    built.index(tiny_passages)
    queries = [q for q, _ in EASY]
    before = built.batch_search(queries, 5)
    built.save(tmp_path / "saved")
    loaded = HybridRetriever.load(tmp_path / "saved")  # load_index also wants build_index's meta.json
    assert (loaded.config, loaded.dense.config) == (built.config, built.dense.config)
    loaded.dense._embedder = hybrid.dense.embedder
    after = loaded.batch_search(queries, 5)
    assert [[(h.passage, h.score) for h in b] for b in before] == [[(h.passage, h.score) for h in a] for a in after]
    assert [a[0].passage.id for a in after] == [want for _, want in EASY]
