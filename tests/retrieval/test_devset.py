"""Dev sets from a corpus's pages: parts never share a page, both forms name the same evidence."""

from __future__ import annotations

import json

import pytest

from asearcher.errors import UserError
from asearcher.retrieval.devset import read_devset, wiki_lead_devset, write_devset


@pytest.fixture()
def corpus_dir(tmp_path):
    pages = [{"url": f"https://en.wikipedia.org/wiki/P{i}", "title": f"P{i}", "text": "t",
              "description": f"thing number {i} of the test corpus"} for i in range(60)]
    (tmp_path / "pages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pages))
    return tmp_path


def test_parts_are_disjoint_and_forms_agree(corpus_dir, tmp_path):
    tune = wiki_lead_devset(corpus_dir, "tune", 100)
    heldout = wiki_lead_devset(corpus_dir, "heldout", 100)
    assert tune and heldout and len(tune) + len(heldout) == 60
    assert not {r["url"] for r in tune} & {r["url"] for r in heldout}
    bare = wiki_lead_devset(corpus_dir, "heldout", 100, form="description")
    assert [r["url"] for r in bare] == [r["url"] for r in heldout]
    for q, d in zip(heldout, bare, strict=True):
        i = d["title"][1:]
        assert d["question"] == f"thing number {i} of the test corpus" and f"'{d['question']}'" in q["question"]
    write_devset(bare, tmp_path / "dev" / "d.jsonl")
    back = read_devset(tmp_path / "dev" / "d.jsonl")
    assert [(q.question, q.url, q.title) for q in back] == [(r["question"], r["url"], r["title"]) for r in bare]


def test_unknown_part_or_form_is_a_user_error(corpus_dir):
    with pytest.raises(UserError, match="part"):
        wiki_lead_devset(corpus_dir, "train", 5)
    with pytest.raises(UserError, match="form"):
        wiki_lead_devset(corpus_dir, "tune", 5, form="keywords")
