"""Fill-the-blank fact questions from corpus pages (corpus/facts.py)."""

from __future__ import annotations

import json

from asearcher.corpus.facts import BLANK, cloze_of, ensure_fact_qa, make_fact_qa, sentences
from asearcher.corpus.qa import _split_of


def _pages() -> list[dict]:
    """40 pages that each link one city and state one year, plus the cities' own pages."""
    pages = [{"url": f"https://w/City_{c}", "title": f"City {c}", "text": f"City {c} is a city."} for c in "ABCD"]
    for i in range(40):
        c = "ABCD"[i % 4]
        text = (f"Thing {i} is an object of study. It was first described in City {c} by a careful observer "
                f"of nature in {1800 + i}. Nothing else is known about it today at all.")
        pages.append({"url": f"https://w/Thing_{i}", "title": f"Thing {i}", "text": text})
    return pages


def test_sentences_keep_offsets_and_decimals():
    text = "It rained. Then 3.5 cm fell. Done!"
    assert sentences(text) == [(0, "It rained."), (11, "Then 3.5 cm fell."), (29, "Done!")]
    for offset, s in sentences(text):
        assert text[offset:offset + len(s)] == s


def test_questions_blank_one_span_that_the_page_states():
    pages = _pages()
    qs = make_fact_qa(pages, 100, seed=0, split="train")
    assert qs and all(q["source"] == "wiki-facts" for q in qs)
    by_url = {p["url"]: p for p in pages}
    for q in qs:
        cloze = cloze_of(q["question"])
        assert cloze.count(BLANK) == 1
        # Putting the answer back gives a sentence of the page, at the recorded offset.
        sentence = cloze.replace(BLANK, q["answer"])
        text = by_url[q["url"]]["text"]
        assert text[q["offset"]:q["offset"] + len(sentence)] == sentence
        assert q["answer"] in q["golden_answers"]
        if q["kind"] == "year":
            assert q["answer"] == str(1800 + int(q["title"].split()[1]))
        else:  # the only linked name in these sentences
            assert q["answer"].startswith("City ")
    kinds = {q["kind"] for q in qs}
    assert kinds == {"year", "name"}
    assert len({q["url"] for q in qs}) == len(qs)  # one question per page


def test_splits_never_share_a_page_and_are_deterministic():
    pages = _pages()
    train = make_fact_qa(pages, 100, seed=0, split="train")
    test = make_fact_qa(pages, 100, seed=0, split="test")
    assert {q["url"] for q in train}.isdisjoint(q["url"] for q in test)
    assert all(_split_of(q["url"]) == "test" for q in test)
    assert make_fact_qa(pages, 100, seed=0, split="train") == train
    assert [q["id"] for q in make_fact_qa(pages, 100, seed=1, split="train")] != [q["id"] for q in train] or len(train) < 2


def test_a_name_inside_a_longer_name_is_not_blanked():
    pages = [{"url": "https://w/Gulf_War", "title": "Gulf War", "text": "x"},
             {"url": "https://w/Second", "title": "Second", "text": "x"}]
    for i in range(30):
        pages.append({"url": f"https://w/P{i}", "title": f"P{i}",
                      "text": "The Iraq War was also called the Second Gulf War by many writers of the time."})
    names = [q for q in make_fact_qa(pages, 100, seed=0, split="train") if q["kind"] == "name"]
    assert names == []  # "Second" sits next to "Gulf"; "Gulf War" sits next to "Second"


def test_ensure_writes_both_splits_once(tmp_path):
    with open(tmp_path / "pages.jsonl", "w") as f:
        for p in _pages():
            f.write(json.dumps(p) + "\n")
    paths = ensure_fact_qa(tmp_path, n_train=5, n_test=5)
    lines = paths["train"].read_text().splitlines()
    assert 0 < len(lines) <= 5
    paths["train"].write_text(lines[0] + "\n")
    assert ensure_fact_qa(tmp_path)["train"].read_text() == lines[0] + "\n"  # kept, not rebuilt


def test_bridge_questions_follow_a_link_to_a_year_that_the_linked_page_states():
    from asearcher.corpus.facts import make_bridge_qa, parse_fact_question

    pages = [{"url": "https://w/Old_Town", "title": "Old Town",
              "text": "Old Town is a place. It was granted a market charter in 1204 by the local lord."}]
    for i in range(40):
        pages.append({"url": f"https://w/Bridge_{i}", "title": f"Bridge {i}",
                      "text": f"Bridge {i} is a small stone bridge that crosses the river in Old Town today."})
    qs = make_bridge_qa(pages, 100, seed=0, split="train")
    assert qs and all(q["kind"] == "bridge" and q["answer"] == "1204" and q["bridge"] == "Old Town" for q in qs)
    assert all(q["url2"] == "https://w/Old_Town" for q in qs)
    hops = parse_fact_question(qs[0]["question"])
    assert [k for _, k in hops] == ["name", "year"]
    assert hops[1][0] == "It was granted a market charter in ___ by the local lord."
    # A year sentence that names its own page would let the second sentence alone find it: not used.
    pages[0]["text"] = "Old Town is a place. Old Town was granted a market charter in 1204 by the local lord."
    assert make_bridge_qa(pages, 100, seed=0, split="train") == []
