"""The passage store: rows round-trip exactly, and a broken store is a UserError naming the folder."""

from __future__ import annotations

import pytest

from asearcher.api.documents import Passage
from asearcher.errors import UserError
from asearcher.retrieval.passage_store import META_FILE, PassageStore, PassageStoreWriter, store_source, write_store


def test_round_trip_keeps_every_field(tmp_path, tiny_passages):
    odd = Passage("x\n1", 'Tit"le', "ünïcødé text\nwith a newline", "https://e.org/a?b=1")
    store = write_store([*tiny_passages, odd], tmp_path, source={"path": "c.jsonl"})
    assert len(store) == len(tiny_passages) + 1
    assert store.get(len(tiny_passages)) == odd
    assert store.get_many([3, 0]) == [tiny_passages[3], tiny_passages[0]]
    assert list(store)[: len(tiny_passages)] == tiny_passages
    assert store_source(tmp_path) == {"path": "c.jsonl"}
    with pytest.raises(IndexError):
        store.get(len(store))


def test_batches_start_where_asked(tmp_path, tiny_passages):
    store = write_store(tiny_passages, tmp_path)
    batches = list(store.iter_batches(5, start=5))
    assert [lo for lo, _ in batches] == [5, 10]
    assert [p for _, b in batches for p in b] == tiny_passages[5:]


def test_unfinished_store_is_a_user_error(tmp_path, tiny_passages):
    writer = PassageStoreWriter(tmp_path)
    writer.add(tiny_passages[0])  # never closed: no completion marker
    with pytest.raises(UserError, match=META_FILE):
        PassageStore(tmp_path)
    assert store_source(tmp_path) is None


def test_truncated_text_is_detected(tmp_path, tiny_passages):
    write_store(tiny_passages, tmp_path)
    text = tmp_path / "passages.jsonl"
    text.write_bytes(text.read_bytes()[:-10])
    with pytest.raises(UserError, match="corrupt"):
        PassageStore(tmp_path)


def test_empty_store(tmp_path):
    assert len(write_store([], tmp_path)) == 0
