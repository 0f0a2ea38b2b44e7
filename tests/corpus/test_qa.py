"""QA from the corpus: answers are page titles, deterministic given the seed, splits disjoint by page."""

import json

import pytest

from asearcher.corpus import CorpusPaths, make_corpus_qa
from asearcher.corpus.qa import aliases
from asearcher.errors import UserError


def test_deterministic_given_seed(wiki_corpus_dir):
    a = make_corpus_qa(wiki_corpus_dir, 50, 1, "train")
    assert a == make_corpus_qa(wiki_corpus_dir, 50, 1, "train")
    assert a != make_corpus_qa(wiki_corpus_dir, 50, 2, "train")
    assert len(a) == 50 and len({r["id"] for r in a}) == 50


def test_splits_are_disjoint_by_page(wiki_corpus_dir):
    train = make_corpus_qa(wiki_corpus_dir, 10_000, 0, "train")
    test = make_corpus_qa(wiki_corpus_dir, 10_000, 5, "test")
    assert len(test) > 200 and len(train) > 5 * len(test)
    assert not {r["url"] for r in train} & {r["url"] for r in test}


def test_records_and_question_quality(wiki_corpus_dir):
    pages = {}
    for line in CorpusPaths(wiki_corpus_dir).pages.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        pages[rec["url"]] = rec
    for r in make_corpus_qa(wiki_corpus_dir, 300, 0, "test"):
        assert set(r) == {"id", "question", "answer", "golden_answers", "source", "url"}
        assert r["source"] == "wiki-lead" and r["golden_answers"][0] == r["answer"] == pages[r["url"]]["title"]
        assert pages[r["url"]]["description"] in r["question"]
        assert r["answer"].casefold() not in r["question"].casefold()  # the agent must search


def test_written_files_match_library_call(wiki_corpus_dir):
    paths = CorpusPaths(wiki_corpus_dir)
    written = [json.loads(x) for x in paths.qa_test.read_text(encoding="utf-8").splitlines()]
    assert written == make_corpus_qa(wiki_corpus_dir, 200, 0, "test")


def test_aliases_drop_disambiguation():
    assert aliases("Mercury (planet)") == ["Mercury (planet)", "Mercury"]
    assert aliases("Mona Lisa") == ["Mona Lisa"]


def test_errors(wiki_corpus_dir, tmp_path):
    with pytest.raises(UserError, match="split"):
        make_corpus_qa(wiki_corpus_dir, 5, 0, "dev")
    with pytest.raises(UserError, match="no pages file"):
        make_corpus_qa(tmp_path, 5, 0, "train")
