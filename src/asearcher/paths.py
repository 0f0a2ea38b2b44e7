"""Where asearcher keeps built artefacts by default (the embedded corpus, its indexes, runs).

`ASEARCHER_HOME` overrides the root (tests point it at a temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root folder for built artefacts: $ASEARCHER_HOME, else ~/.cache/asearcher."""
    return Path(os.environ.get("ASEARCHER_HOME") or Path.home() / ".cache" / "asearcher")


def default_corpus_dir() -> Path:
    """The embedded Wikipedia corpus built by `asearcher corpus build` (pages, passages, links)."""
    return home() / "corpus" / "wiki-lead"


def default_index_dir(kind: str) -> Path:
    """The index of the embedded corpus of the given kind ("bm25", "dense", "hybrid")."""
    return home() / "index" / f"wiki-lead-{kind}"
