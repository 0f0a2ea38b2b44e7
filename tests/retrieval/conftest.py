"""Fixtures for retrieval tests: a tiny hand-written corpus, and dense/hybrid indexes of it built once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asearcher.api.documents import Passage
from tiny_corpus import TINY

@pytest.fixture(scope="session")
def tiny_passages() -> list[Passage]:
    return list(TINY)


@pytest.fixture(scope="session")
def tiny_corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TINY as a Search-R1 passages file, with a pages.jsonl next to it."""
    d = tmp_path_factory.mktemp("tiny_corpus")
    with (d / "passages.jsonl").open("w") as f:
        for p in TINY:
            f.write(json.dumps({"id": p.id, "title": p.title, "text": p.text, "url": p.url}) + "\n")
    (d / "pages.jsonl").write_text("")
    return d / "passages.jsonl"


@pytest.fixture(scope="session")
def tiny_dense_dir(tiny_corpus_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hybrid index of TINY (hence also a BM25 and a flat dense index), built once: the embedder is slow to load."""
    from asearcher.retrieval import IndexConfig, build_index

    out = tmp_path_factory.mktemp("tiny_hybrid")
    build_index(tiny_corpus_file, out, "hybrid", IndexConfig(kind="hybrid"))
    return out
