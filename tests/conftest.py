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
