"""Index folders: meta.json contents, load_index dispatch, clear errors for missing/corrupt folders."""

from __future__ import annotations

import json

import pytest

from asearcher.errors import UserError
from asearcher.paths import default_index_dir
from asearcher.retrieval import BM25Retriever, build_index, ensure_default_index, load_index, read_meta


def test_meta_records_corpus_pages_and_config(tiny_corpus_file, tmp_path):
    r = build_index(tiny_corpus_file, tmp_path / "idx", "bm25")
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert meta["kind"] == "bm25" and meta["count"] == 12 == len(r)
    assert meta["corpus"] == str(tiny_corpus_file.resolve())
    assert meta["pages"] == str(tiny_corpus_file.parent.resolve() / "pages.jsonl")
    assert meta["config"]["bm25"]["stemmer"] == "en_stem"
    assert meta["build_seconds"] >= 0
    loaded = load_index(tmp_path / "idx")
    assert isinstance(loaded, BM25Retriever)
    assert loaded.search("Eiffel", 1)[0].passage.url == "u/eiffel"


def test_rebuild_reuses_the_store_and_gives_the_same_results(tiny_corpus_file, tmp_path):
    first = build_index(tiny_corpus_file, tmp_path, "bm25").search("river", 3)
    store_mtime = (tmp_path / "passages.jsonl").stat().st_mtime_ns
    assert build_index(tiny_corpus_file, tmp_path, "bm25").search("river", 3) == first
    assert (tmp_path / "passages.jsonl").stat().st_mtime_ns == store_mtime


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(UserError, match="no-index-here"):
        load_index(tmp_path / "no-index-here")


def test_unfinished_build_is_named(tmp_path):
    with pytest.raises(UserError, match=r"no meta\.json"):
        load_index(tmp_path)


def test_corrupt_meta_is_named(tiny_corpus_file, tmp_path):
    build_index(tiny_corpus_file, tmp_path, "bm25")
    (tmp_path / "meta.json").write_text('{"kind": "sparse"}')
    with pytest.raises(UserError, match="sparse"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(UserError, match="corrupt JSON"):
        load_index(tmp_path)


def test_missing_index_files_are_named(tiny_corpus_file, tmp_path):
    build_index(tiny_corpus_file, tmp_path, "bm25")
    (tmp_path / "passages.offsets.npy").unlink()
    with pytest.raises(UserError, match="passages.offsets.npy"):
        load_index(tmp_path)


def test_missing_corpus_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.jsonl"):
        build_index(tmp_path / "nope.jsonl", tmp_path / "out", "bm25")


def test_ensure_default_index_builds_once(wiki_corpus_dir):
    path = ensure_default_index("bm25")
    assert path == default_index_dir("bm25")
    assert read_meta(path)["corpus"].endswith("passages.jsonl")
    mtime = (path / "meta.json").stat().st_mtime_ns
    assert ensure_default_index("bm25") == path
    assert (path / "meta.json").stat().st_mtime_ns == mtime
