"""BM25 (tantivy): ranking, topk, batch == single, save/load, and queries full of query-syntax characters."""

from __future__ import annotations

import pytest

from asearcher.retrieval import BM25Retriever, load_index
from asearcher.retrieval.bm25 import query_terms

from tiny_corpus import EASY


@pytest.fixture(scope="module")
def bm25(tiny_passages):
    r = BM25Retriever()
    r.index(tiny_passages)
    return r


@pytest.mark.parametrize(("query", "want"), EASY)
def test_right_passage_first(bm25, query, want):
    hits = bm25.search(query, 3)
    assert hits[0].passage.id == want
    assert hits[0].score >= hits[-1].score


def test_returns_full_passages_and_honours_topk(bm25, tiny_passages):
    hits = bm25.search("the", 2)  # in many passages
    assert len(hits) == 2
    assert bm25.search("Mona Lisa", 1)[0].passage == tiny_passages[0]  # title, text and url intact
    assert len(bm25.search("the river the tower the wall the moon", 50)) <= len(tiny_passages)
    assert len(bm25) == len(tiny_passages)


def test_batch_search_equals_single_search(bm25):
    queries = [q for q, _ in EASY] + ["", "no-such-word-zzz"]
    assert bm25.batch_search(queries, 3) == [bm25.search(q, 3) for q in queries]


@pytest.mark.parametrize(
    "query",
    [
        'Who painted the "Mona Lisa"?',
        "title:Mona (Lisa) -painting +Leonardo",
        "Mona AND OR NOT Lisa",
        'unbalanced "quote ( [ { ^2 ~1 * \\ /',
        "Mona:Lisa:Leonardo",
        "Mona_Lisa",
        "who painted Mona_Lisa_(painting)?",
        "???",
        "",
    ],
)
def test_punctuation_heavy_queries_do_not_raise(bm25, query):
    hits = bm25.search(query, 3)
    if "Mona" in query:
        assert hits[0].passage.id == "p0"
    else:
        assert isinstance(hits, list)


def test_query_terms_are_the_index_terms_of_the_words_and_nothing_is_syntax():
    # Stemmed (painted -> paint), lowercased, split at every non-alphanumeric char (also "_"),
    # each term once, in order; AND is a word like any other.
    want = ["who", "paint", "the", "mona", "lisa", "a", "b", "c", "and"]
    assert query_terms('Who painted the "Mona_Lisa"? (a:b) -c AND the') == want
    assert query_terms("Painted", "default") == ["painted"]


def test_save_load_round_trip(bm25, tmp_path):
    bm25.save(tmp_path)
    loaded = BM25Retriever.load(tmp_path)
    queries = [q for q, _ in EASY]
    assert loaded.batch_search(queries, 5) == bm25.batch_search(queries, 5)


def test_default_corpus_mona_lisa(bm25_index_dir):
    r = load_index(bm25_index_dir)
    assert len(r) > 5000
    titles = [h.passage.title for h in r.search("Who painted the Mona Lisa?", 3)]
    assert "Mona Lisa" in titles or "Leonardo da Vinci" in titles
