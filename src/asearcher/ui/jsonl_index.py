"""Byte-offset index of a JSONL file that may still be growing: any line is read with one seek.

The index keeps, per complete line, its start offset and a small summary row (whatever `summarize`
returns), never the line itself, so a 10,000-trajectory file costs a few MB of memory. `refresh`
reads only what was appended since the last call; a file that shrank or was replaced is re-indexed.
A torn last line (no newline yet: a writer mid-append) is left for the next refresh.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Summarize = Callable[[dict[str, Any], int], dict[str, Any]]
_BLOCK = 1 << 20


class JsonlIndex:
    """Offsets and summary rows of `path`'s complete lines; thread-safe refresh."""

    def __init__(self, path: Path, summarize: Summarize) -> None:
        self.path = Path(path)
        self.summarize = summarize
        self.offsets: list[int] = []
        self.rows: list[dict[str, Any]] = []
        self._end = 0  # bytes indexed (always at a line boundary)
        self._inode: int | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Index lines appended since the last call."""
        with self._lock:
            st = self.path.stat()
            if st.st_ino != self._inode or st.st_size < self._end:
                self.offsets, self.rows, self._end, self._inode = [], [], 0, st.st_ino
            if st.st_size == self._end:
                return
            with self.path.open("rb") as f:
                f.seek(self._end)
                pending = b""
                pos = self._end
                while block := f.read(_BLOCK):
                    pending += block
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._add(line, pos)
                        pos += len(line) + 1
                self._end = pos

    def _add(self, line: bytes, pos: int) -> None:
        if not line.strip():
            return
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("%s: skipping an unreadable line at byte %d", self.path, pos)
            return
        if not isinstance(rec, dict):
            return
        n = len(self.offsets)
        self.offsets.append(pos)
        self.rows.append(self.summarize(rec, n))

    def __len__(self) -> int:
        return len(self.offsets)

    def read(self, n: int) -> dict[str, Any]:
        """Line `n` (0-based among indexed lines) parsed; IndexError when out of range."""
        if not 0 <= n < len(self.offsets):
            raise IndexError(n)
        with self.path.open("rb") as f:
            f.seek(self.offsets[n])
            return json.loads(f.readline())

    def grep(self, needle: str, verify: Callable[[dict[str, Any], str], bool] | None = None) -> list[int]:
        """Numbers of the lines whose raw text contains `needle` (case-insensitive).

        JSON escapes non-ASCII text, or not (ensure_ascii=False), so both spellings are tried. The raw
        test is a cheap prefilter; `verify(record, needle)` then decides on the parsed line (e.g. to
        ignore matches inside token-id arrays).
        """
        needles = {needle.lower().encode(), json.dumps(needle.lower())[1:-1].encode()}
        hits = []
        with self.path.open("rb") as f:
            for n, start in enumerate(self.offsets):
                f.seek(start)
                line = f.readline().lower()
                if any(x in line for x in needles) and (verify is None or verify(json.loads(line), needle)):
                    hits.append(n)
        return hits
