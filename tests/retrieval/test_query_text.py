"""Query text is data: any text, in any retriever, searches as words and never raises.

Property tests (hypothesis) over random unicode, including lone surrogates (which JSON can carry
as `\\ud800` escapes) and fragments of tantivy/Lucene query syntax, against real BM25, dense and
hybrid indexes of the tiny corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asearcher.retrieval import BM25Retriever, load_index
from asearcher.retrieval.bm25 import MAX_QUERY_TERMS, query_terms
from asearcher.retrieval.query_text import MAX_QUERY_CHARS, clean_query

from tiny_corpus import EASY

# Everything a query parser could read as syntax, and text that broke retrievers before.
SYNTAX = ['"', "'", ":", "(", ")", "[", "]", "{", "}", "^", "~", "*", "?", "\\", "/", "+", "-", "!", "&&", "||",
          " AND ", " OR ", " NOT ", " TO ", " IN ", "_", "__", "title:", "body:", "*:*", "\x00", "\n", "\t",
          "\u200b", "\u202e", "\ufeff", "\ud800", "\udfff", "\U0001f600", "Mona_Lisa", "北京", "مرحبا", "हिन्दी"]
WORDS = ["Mona", "Lisa", "Paris", "tower", "the", "painted", "river", "sugar"]

query_text = st.lists(
    st.one_of(
        st.text(st.characters(codec=None, exclude_categories=()), max_size=20),  # any code point, surrogates too
        st.sampled_from(SYNTAX),
        st.sampled_from(WORDS),
    ),
    max_size=12,
).map("".join)

HOSTILE = [
    "Mona_Lisa", 'Who painted the "Mona Lisa', "title:(Mona AND Lisa) OR NOT [a TO z]", "AND", "OR OR NOT",
    "\x00\x01\x02\x7f", "\ud800Mona\udfff", "Mona " * 200_000, "ab" * 600_000, "\u0301" * 5000,
    "𝕸𝖔𝖓𝖆 𝕷𝖎𝖘𝖆", "蒙娜丽莎是谁画的？", "من رسم الموناليزا؟", "x" * 41, "",
]


@pytest.fixture(scope="module")
def retrievers(tiny_dense_dir: Path, tiny_passages) -> dict:
    bm25 = BM25Retriever()
    bm25.index(tiny_passages)
    hybrid = load_index(tiny_dense_dir)  # the hybrid folder opens as hybrid; its dense half on its own
    return {"bm25": bm25, "dense": hybrid.dense, "hybrid": hybrid}


def _check_hits(hits: list, topk: int, n_passages: int) -> None:
    assert isinstance(hits, list) and len(hits) <= min(topk, n_passages)
    assert len({h.passage.id for h in hits}) == len(hits)
    assert all(isinstance(h.score, float) for h in hits)


@pytest.mark.parametrize("kind", ["bm25", "dense", "hybrid"])
@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:20]))
def test_hostile_queries_search_as_words(retrievers: dict, kind: str, query: str) -> None:
    r = retrievers[kind]
    hits = r.search(query, 3)
    _check_hits(hits, 3, len(r))
    if kind == "bm25" and "Mona" in query and "𝕸" not in query:
        assert hits[0].passage.id == "p0"


@pytest.mark.parametrize("kind", ["bm25", "dense", "hybrid"])
def test_random_unicode_never_raises_and_never_disturbs_the_other_queries_of_a_batch(retrievers: dict,
                                                                                    kind: str) -> None:
    r = retrievers[kind]
    easy = [q for q, _ in EASY]
    alone = r.batch_search(easy, 3)

    # Dense encodes each example with the real MiniLM: fewer examples keep it to seconds.
    @settings(max_examples=150 if kind == "bm25" else 40, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(q=query_text)
    @example(q="Mona_Lisa")
    @example(q="\ud800")
    def check(q: str) -> None:
        results = r.batch_search([easy[0], q, *easy[1:]], 3)
        _check_hits(results[1], 3, len(r))
        # Queries batched with it get what they get alone (ids; dense scores may differ in the
        # last bits with the batch composition, as documented in test_dense.py).
        assert [[h.passage.id for h in hits] for hits in results[:1] + results[2:]] == \
            [[h.passage.id for h in hits] for hits in alone]

    check()


@settings(max_examples=300, deadline=None)
@given(q=query_text)
def test_clean_query_gives_encodable_text_and_keeps_encodable_text(q: str) -> None:
    out = clean_query(q)
    out.encode("utf-8")  # never raises
    assert len(out) <= MAX_QUERY_CHARS
    try:
        q[:MAX_QUERY_CHARS].encode("utf-8")
    except UnicodeEncodeError:
        return
    assert out == q[:MAX_QUERY_CHARS]


def test_clean_query_joins_surrogate_pairs_and_replaces_halves() -> None:
    assert clean_query("a\ud83d\ude00b") == "a\U0001f600b"
    assert clean_query("\ud83d x \ude00") == "\ufffd x \ufffd"
    assert clean_query("x" * (MAX_QUERY_CHARS + 10)) == "x" * MAX_QUERY_CHARS
    with pytest.raises(TypeError, match="str"):
        clean_query(None)  # type: ignore[arg-type]


def test_huge_queries_keep_a_bounded_number_of_terms() -> None:
    words = " ".join(f"w{i}" for i in range(5000))
    terms = query_terms(words)
    assert len(terms) == MAX_QUERY_TERMS
    assert terms[:3] == ["w0", "w1", "w2"]


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS + ["who", "is", "a", "by", "in", "and", "of", "Leonardo", "Everest"]),
                      min_size=1, max_size=8))
def test_built_query_scores_equal_tantivys_parser_on_plain_words(retrievers: dict, words: list[str]) -> None:
    # The built query must rank exactly as the parsed one did before, so recall numbers carry over.
    r = retrievers["bm25"]
    text = " ".join(words)
    parsed = r._index.parse_query(" ".join(re.findall(r"[^\W_]+", text.lower())), ["body"])
    old = [(round(s, 5), r._searcher.doc(a)["row"][0]) for s, a in r._searcher.search(parsed, 12).hits]
    new = [(round(h.score, 5), int(h.passage.id[1:])) for h in r.search(text, 12)]
    assert new == old

