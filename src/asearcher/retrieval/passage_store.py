"""On-disk passage store shared by every retriever kind: rows -> full Passages, read on demand.

Layout in an index folder (rows are 0-based and are the ids every retriever indexes):

    passages.jsonl         one {"id","title","text","url"} object per line, in row order
    passages.offsets.npy   int64 byte offsets, length rows + 1 (row i = bytes [off[i], off[i+1]))
    passages.json          {"count": rows, "source": ...}; written last, so its presence means complete

The text file is memory-mapped, so 1M passages cost the page cache, not Python objects, and lookups
are thread-safe (no shared file position).
"""

from __future__ import annotations

import json
import mmap
import os
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from asearcher.api.documents import Passage
from asearcher.errors import UserError

TEXT_FILE = "passages.jsonl"
OFFSETS_FILE = "passages.offsets.npy"
META_FILE = "passages.json"


class PassageStoreWriter:
    """Appends passages in row order; `close()` publishes the store (until then it is incomplete)."""

    def __init__(self, out_dir: Path, source: dict[str, Any] | None = None) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / META_FILE).unlink(missing_ok=True)  # mark incomplete while rewriting
        self._f = open(self.dir / TEXT_FILE, "wb")  # noqa: SIM115 - closed in close()
        self._offsets = array("q", [0])  # 8 bytes per row, not a Python int each
        self._source = source or {}

    def add(self, p: Passage) -> int:
        """Append one passage; returns its row."""
        line = json.dumps({"id": p.id, "title": p.title, "text": p.text, "url": p.url}, ensure_ascii=False)
        data = line.encode("utf-8") + b"\n"
        self._f.write(data)
        self._offsets.append(self._offsets[-1] + len(data))
        return len(self._offsets) - 2

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        """Flush the text and offsets, then write the completion marker."""
        self._f.close()
        np.save(self.dir / OFFSETS_FILE, np.frombuffer(self._offsets, dtype=np.int64))
        tmp = self.dir / (META_FILE + ".tmp")
        tmp.write_text(json.dumps({"count": len(self), "source": self._source}))
        os.replace(tmp, self.dir / META_FILE)


def write_store(passages: Iterable[Passage], out_dir: Path, source: dict[str, Any] | None = None) -> "PassageStore":
    """Write every passage of the stream to a store in `out_dir` and open it."""
    writer = PassageStoreWriter(out_dir, source)
    for p in passages:
        writer.add(p)
    writer.close()
    return PassageStore(out_dir)


def store_source(out_dir: Path) -> dict[str, Any] | None:
    """The `source` recorded by a complete store in `out_dir`, or None when there is none."""
    meta = Path(out_dir) / META_FILE
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text()).get("source") or {}
    except (json.JSONDecodeError, AttributeError):
        return None


class PassageStore:
    """Read-only random access to the passages of a store folder."""

    def __init__(self, store_dir: Path) -> None:
        self.dir = Path(store_dir)
        for name in (META_FILE, TEXT_FILE, OFFSETS_FILE):
            if not (self.dir / name).is_file():
                raise UserError(f"{self.dir}: incomplete passage store, missing {name} (rebuild the index)")
        self._offsets = np.load(self.dir / OFFSETS_FILE, mmap_mode="r")
        count = json.loads((self.dir / META_FILE).read_text())["count"]
        size = (self.dir / TEXT_FILE).stat().st_size
        if len(self._offsets) != count + 1 or int(self._offsets[-1]) != size:
            raise UserError(f"{self.dir}: passage store is corrupt ({count} rows, {size} bytes of text)")
        self._file = open(self.dir / TEXT_FILE, "rb")  # noqa: SIM115 - kept open for the mmap's lifetime
        # mmap of an empty file is an error; an empty store simply has no rows.
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def get(self, row: int) -> Passage:
        """The passage at `row` (IndexError outside 0..len-1)."""
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} outside passage store of {len(self)}")
        rec = json.loads(self._mm[int(self._offsets[row]) : int(self._offsets[row + 1])])
        return Passage(id=rec["id"], title=rec["title"], text=rec["text"], url=rec["url"])

    def get_many(self, rows: Iterable[int]) -> list[Passage]:
        """Passages for many rows, in the order given."""
        return [self.get(int(r)) for r in rows]

    def __iter__(self) -> Iterator[Passage]:
        for row in range(len(self)):
            yield self.get(row)

    def iter_batches(self, batch_size: int, start: int = 0) -> Iterator[tuple[int, list[Passage]]]:
        """(first row, passages) batches in row order, beginning at row `start`."""
        for lo in range(start, len(self), batch_size):
            yield lo, [self.get(r) for r in range(lo, min(lo + batch_size, len(self)))]
