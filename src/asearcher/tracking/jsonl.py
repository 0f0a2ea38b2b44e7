"""Append-only JSON-lines files of a run (metrics.jsonl, trajectories.jsonl) that survive a SIGKILL."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO


def open_append(path: Path) -> TextIO:
    """Open `path` for appending after cutting a torn last line.

    A process killed in the middle of a write (a trajectory line is larger than one write's buffer)
    leaves a line without its newline; appending to it would glue the next row onto it and make the
    whole file unreadable. That partial row belongs to a step whose checkpoint was never written, so
    the resumed run writes it again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        with path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    return path.open("a", encoding="utf-8")
