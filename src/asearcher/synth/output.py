"""Output files of a synthesis run: accepted questions, everything else, and a summary.

- `<out>` (e.g. `synth.jsonl`): accepted questions only, in the training format (`id`,
  `question`, `answer`, `source`) plus `facts`, `pages`, `accuracy` and the edit `history`;
  `asearcher eval --data` and the training loader read it unchanged.
- `<stem>.rejected.jsonl`: seeds that gave no accepted question, same fields, with `status`
  "rejected" or "failed" and a `reason`.
- `<stem>.summary.json` and `<stem>.config.yaml`: counts and the resolved config.

Lines are appended with one `write` each, flushed and fsynced, so an interrupted run leaves at most
a torn last line, which is cut off on the next start; ids found in either file are skipped (resume).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from asearcher.eval.results import read_results


def rejected_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejected.jsonl")


def summary_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.summary.json")


def config_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.config.yaml")


class JsonlAppender:
    """Append-only JSONL file keyed by `id`; existing complete lines are read back for resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        records, valid = read_results(path)  # complete lines, and the length without a torn tail
        self.records: list[dict[str, Any]] = records
        if path.exists() and path.stat().st_size != valid:
            with path.open("r+b") as f:
                f.truncate(valid)
        self._f = path.open("a", encoding="utf-8")

    @property
    def ids(self) -> set[str]:
        return {str(r.get("id")) for r in self.records}

    def append(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.records.append(record)

    def close(self) -> None:
        self._f.close()
