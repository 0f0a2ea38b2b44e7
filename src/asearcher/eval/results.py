"""The results file: one JSON line per (question, sample), appended durably, read back for resume.

Invariant: every complete line is a finished result. A line is written in one `write` call, then
flushed and fsynced, so a crash can leave at most a half-written *last* line; `ResultsFile` detects
it (no trailing newline, or not JSON), logs it, and cuts it off before appending again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from asearcher.errors import UserError

logger = logging.getLogger(__name__)


def read_results(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Complete records in `path` and the byte length of the valid prefix (torn tail excluded)."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    valid = 0
    lines = data.split(b"\n")
    for n, line in enumerate(lines, 1):
        is_last = n == len(lines)
        if is_last:  # the text after the final newline: empty, or a torn write
            if line.strip():
                logger.warning("%s: ignoring a half-written last line (%d bytes) from an interrupted run", path, len(line))
            break
        if not line.strip():
            valid += len(line) + 1
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) - 1 and not any(x.strip() for x in lines[n:]):
                logger.warning("%s:%d: ignoring an unreadable last line from an interrupted run", path, n)
                break
            raise UserError(f"{path}:{n}: not a valid result line; the file is damaged (move it away to start over)")
        records.append(rec)
        valid += len(line) + 1
    return records, valid


class ResultsFile:
    """Append-only JSONL of results with resume support.

    Args:
        path: the JSONL file (created with its folder when missing).
        fsync: fsync after every line (durable against power loss, ~1 ms a line).
    """

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        records, valid = read_results(self.path)
        self.records: list[dict[str, Any]] = []
        self.done: set[tuple[str, int]] = set()
        for r in records:
            key = (r["qid"], int(r["sample"]))
            if key in self.done:  # cannot happen through this class; tolerate hand-merged files
                logger.warning("%s: duplicate result for %s sample %d ignored", self.path, *key)
                continue
            self.done.add(key)
            self.records.append(r)
        if self.path.exists() and self.path.stat().st_size != valid:
            with self.path.open("r+b") as f:
                f.truncate(valid)
        self._f = self.path.open("a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        """Write one finished result durably."""
        key = (record["qid"], int(record["sample"]))
        if key in self.done:
            raise RuntimeError(f"result for {key} written twice")
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())
        self.done.add(key)
        self.records.append(record)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
