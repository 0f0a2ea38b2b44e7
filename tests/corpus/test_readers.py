"""Streaming readers: every accepted line format, gz, and malformed lines named by file and line."""

import gzip
import json
import logging

import pytest

from asearcher.api.documents import Page, Passage
from asearcher.corpus.readers import ReadStats, iter_pages, iter_passages, split_contents
from asearcher.errors import UserError


def _write(path, lines):
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_search_r1_contents_format(tmp_path):
    f = _write(tmp_path / "p.jsonl", [
        {"id": "0", "contents": '"Mona Lisa"\nThe Mona Lisa is a portrait.', "extra": 1},
        {"id": 7, "contents": "no title line here"},  # integer row-number ids are common
        {"id": "2", "contents": '"Quoted "inner" title"\nBody', "url": "https://x.org/a"},
    ])
    got = list(iter_passages(f))
    assert got[0] == Passage(id="0", title="Mona Lisa", text="The Mona Lisa is a portrait.")
    assert got[1] == Passage(id="7", title="", text="no title line here")
    assert got[2] == Passage(id="2", title='Quoted "inner" title', text="Body", url="https://x.org/a")
    assert got[0].contents == '"Mona Lisa"\nThe Mona Lisa is a portrait.'


def test_title_text_format_and_gz(tmp_path):
    f = _write(tmp_path / "p.jsonl.gz", [{"id": "a", "title": "T", "text": "body", "url": None}, ""])
    assert list(iter_passages(f)) == [Passage(id="a", title="T", text="body")]


def test_split_contents_round_trips_passage_contents():
    p = Passage(id="1", title="Leonardo da Vinci", text="Italian polymath.")
    assert split_contents(p.contents) == ("Leonardo da Vinci", "Italian polymath.")


def test_pages_both_formats_with_url_normalised(tmp_path):
    f = _write(tmp_path / "pages.jsonl", [
        {"url": "http://en.m.wikipedia.org/wiki/Mona_Lisa", "contents": "Portrait."},
        {"url": "https://example.com/a#x", "title": "A", "text": "Alpha."},
    ])
    assert list(iter_pages(f)) == [
        Page(url="https://en.wikipedia.org/wiki/Mona_Lisa", title="", text="Portrait."),
        Page(url="https://example.com/a", title="A", text="Alpha."),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        (json.dumps({"contents": "x"}), 'missing field "id"'),
        (json.dumps({"id": "", "contents": "x"}), 'field "id" is empty'),
        (json.dumps({"id": 1.5, "contents": "x"}), 'field "id" must be a string'),
        (json.dumps({"id": "1", "contents": 3}), 'field "contents" must be a string'),
        (json.dumps({"id": "1", "title": "t"}), 'needs "contents" or "text"'),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    f = _write(tmp_path / "bad.jsonl", [{"id": "ok", "contents": "fine"}, "", line])
    with pytest.raises(UserError) as e:
        list(iter_passages(f))
    assert f"{f}:3: " in str(e.value) and reason in str(e.value)


def test_bad_page_line(tmp_path):
    f = _write(tmp_path / "pages.jsonl", [{"url": "", "text": "x"}])
    with pytest.raises(UserError, match=r"pages.jsonl:1: field \"url\" is empty"):
        list(iter_pages(f))


def test_skip_bad_counts_and_warns(tmp_path, caplog):
    f = _write(tmp_path / "bad.jsonl.gz", [{"id": "1", "contents": "a"}, "oops", {"id": "2"}, {"id": "3", "text": "c"}])
    stats = ReadStats()
    with caplog.at_level(logging.WARNING):
        ids = [p.id for p in iter_passages(f, skip_bad=True, stats=stats)]
    assert ids == ["1", "3"]
    assert (stats.lines, stats.records, stats.bad) == (4, 2, 2)
    assert "bad.jsonl.gz:2" in stats.first_bad
    assert "skipped 2 malformed line(s)" in caplog.text


def test_invalid_utf8_is_a_bad_line(tmp_path):
    f = tmp_path / "bin.jsonl"
    f.write_bytes(b'{"id": "1", "contents": "a"}\n{"id": "2", "contents": "\xff\xfe"}\n')
    with pytest.raises(UserError, match="bin.jsonl:2: not valid JSON"):
        list(iter_passages(f))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        list(iter_passages(tmp_path / "nope.jsonl"))


def test_reader_streams(tmp_path):
    # The first record comes out before a later bad line is read: nothing is loaded up front.
    f = _write(tmp_path / "s.jsonl", [{"id": "1", "contents": "a"}, "broken"])
    it = iter_passages(f)
    assert next(it).id == "1"
    with pytest.raises(UserError):
        next(it)
