"""Test-wide set-up: offline, and built artefacts under a temporary ASEARCHER_HOME."""

from __future__ import annotations

import os

import pytest

# Nothing may reach a model hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def asearcher_home(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Point ASEARCHER_HOME at a fresh folder so tests never touch the user's cache."""
    home = str(tmp_path_factory.mktemp("asearcher_home"))
    old = os.environ.get("ASEARCHER_HOME")
    os.environ["ASEARCHER_HOME"] = home
    yield home
    if old is None:
        os.environ.pop("ASEARCHER_HOME", None)
    else:
        os.environ["ASEARCHER_HOME"] = old


@pytest.fixture(scope="session")
def wiki_corpus_dir(asearcher_home: str):
    """The embedded Wikipedia-lead corpus, built once per session (~2 s) under the test ASEARCHER_HOME.

    Holds pages.jsonl, passages.jsonl, links.jsonl, qa_train.jsonl, qa_test.jsonl, manifest.json
    (see docs/corpus.md); `asearcher.corpus.CorpusPaths(wiki_corpus_dir)` names them.
    """
    from asearcher.corpus import ensure_default_corpus

    return ensure_default_corpus().root


@pytest.fixture(scope="session")
def bm25_index_dir(wiki_corpus_dir):
    """A BM25 index of the embedded corpus's passages, built once per session (~1 s); a Path.

    Open it with `asearcher.retrieval.load_index(bm25_index_dir)`; its meta.json names the corpus
    and the pages.jsonl next to it (what `/access` serves).
    """
    from pathlib import Path

    from asearcher.paths import default_index_dir
    from asearcher.retrieval import build_index

    out = default_index_dir("bm25")
    if not (out / "meta.json").is_file():
        build_index(Path(wiki_corpus_dir) / "passages.jsonl", out, "bm25")
    return out
