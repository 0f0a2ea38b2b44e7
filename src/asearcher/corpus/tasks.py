"""The embedded QA tasks by name, for configs: "default" (page titles, corpus/qa.py), "facts"
(fill-the-blank facts) and "facts-bridge" (two-hop facts along the link graph, corpus/facts.py); each
has a train and a held-out split built on first use."""

from __future__ import annotations

from pathlib import Path

from asearcher.corpus.build import ensure_default_corpus
from asearcher.corpus.facts import ensure_fact_qa
from asearcher.corpus.qa import SPLITS
from asearcher.errors import UserError

EMBEDDED_TASKS = ("default", "facts", "facts-bridge")


def embedded_qa_file(spec: str, split: str) -> Path | None:
    """The `split` file of the embedded task named `spec`; None for any other spec (a path or a
    benchmark name, which the eval loaders resolve)."""
    if spec not in EMBEDDED_TASKS:
        return None
    if split not in SPLITS:
        raise UserError(f"split: {split!r} is not one of {list(SPLITS)}")
    if spec == "facts":
        return ensure_fact_qa()[split]
    if spec == "facts-bridge":
        return ensure_fact_qa()[f"bridge_{split}"]
    paths = ensure_default_corpus()
    return paths.qa_train if split == "train" else paths.qa_test
