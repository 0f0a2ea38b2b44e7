"""Fixture runs for the UI tests (written once per session; see fixture_runs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixture_runs import write_eval_run, write_train_run  # noqa: E402


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    """A --runs folder with a small training run (one 100-turn episode) and an eval run."""
    root = tmp_path_factory.mktemp("runs")
    write_train_run(root / "train-small", steps=6, per_step=8, long_turns=100)
    write_eval_run(root / "eval-small", questions=30, k=2)
    return root
