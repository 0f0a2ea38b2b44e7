"""Fixtures for the synthesis tests: the small corpus of synth_fakes, its page store and link graph."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_fakes import LINKS, PAGES, write_jsonl

from asearcher.corpus.page_store import JsonlPageStore
from asearcher.synth.graph import LinkGraph


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    write_jsonl(d / "pages.jsonl", PAGES)
    write_jsonl(d / "links.jsonl", LINKS)
    return d


@pytest.fixture
def store(corpus_dir: Path):
    s = JsonlPageStore(corpus_dir / "pages.jsonl")
    yield s
    s.close()


@pytest.fixture
def graph(corpus_dir: Path, store) -> LinkGraph:
    return LinkGraph.load(corpus_dir / "links.jsonl", known=set(store.urls()))
