"""The trajectory explorer's queries: filter, sort and page a JSONL file's rows; one line in full; tokens.

Rows come from a `JsonlIndex` per file (kept across requests, refreshed on each so a growing run
shows new lines); a full line is read only when the page opens it, and its tokens a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher.ui import records
from asearcher.ui.files import RunRoots
from asearcher.ui.jsonl_index import JsonlIndex
from asearcher.ui.tokens import Tokenizers, model_of_run, token_pieces

MAX_PAGE = 500
TOKEN_PAGE = 4000
# Numeric columns a range filter may bound: ?min_turns=3&max_turns=10.
RANGE_COLUMNS = ("reward", "turns", "tool_calls", "step", "staleness", "f1")
SORTABLE = ("n", "qid", "dataset", "reward", "em", "f1", "turns", "tool_calls", "stop_reason", "step", "staleness",
            "sampled_tokens", "correct")


@dataclass
class Query:
    """One page of the table: filters, sort and window."""

    dataset: str = ""
    correct: str = ""  # "", "true", "false"
    stop_reason: str = ""
    q: str = ""  # full-text search
    qid: str = ""
    sort: str = "n"
    desc: bool = False
    offset: int = 0
    limit: int = 100
    ranges: dict[str, tuple[float | None, float | None]] | None = None


def _sort_key(column: str):
    def key(row: dict[str, Any]) -> tuple:
        v = row.get(column)
        return (v is None, v if not isinstance(v, bool) else int(v))  # missing values last
    return key


class Explorer:
    """Queries over the trajectory files under the roots."""

    def __init__(self, roots: RunRoots, tokenizers: Tokenizers) -> None:
        self.roots = roots
        self.tokenizers = tokenizers
        self._indexes: dict[Path, JsonlIndex] = {}
        self._grep_cache: dict[tuple[Path, str, int], set[int]] = {}

    def index(self, ref: str) -> JsonlIndex:
        path = self.roots.resolve(ref)
        idx = self._indexes.get(path)
        if idx is None:
            idx = self._indexes[path] = JsonlIndex(path, records.summarize)
        idx.refresh()
        return idx

    def _matches(self, idx: JsonlIndex, needle: str) -> set[int]:
        key = (idx.path, needle, len(idx))
        if key not in self._grep_cache:
            self._grep_cache.clear()  # one search kept: paging through it is the common case
            self._grep_cache[key] = set(idx.grep(needle, records.text_matches))
        return self._grep_cache[key]

    def query(self, ref: str, q: Query) -> dict[str, Any]:
        """{"total", "rows", "facets"}: rows q.offset.. of the filtered, sorted table."""
        idx = self.index(ref)
        rows = idx.rows
        facets = {"dataset": sorted({r["dataset"] for r in rows if r["dataset"]}),
                  "stop_reason": sorted({r["stop_reason"] for r in rows if r["stop_reason"]}),
                  "lines": len(rows)}
        if q.dataset:
            rows = [r for r in rows if r["dataset"] == q.dataset]
        if q.stop_reason:
            rows = [r for r in rows if r["stop_reason"] == q.stop_reason]
        if q.correct in ("true", "false"):
            want = q.correct == "true"
            rows = [r for r in rows if r["correct"] is want]
        if q.qid:
            rows = [r for r in rows if r["qid"] == q.qid]
        for col, (lo, hi) in (q.ranges or {}).items():
            rows = [r for r in rows if r.get(col) is not None and (lo is None or r[col] >= lo)
                    and (hi is None or r[col] <= hi)]
        if q.q.strip():
            hits = self._matches(idx, q.q.strip().lower())
            rows = [r for r in rows if r["n"] in hits]
        if q.sort != "n" or q.desc:
            rows = sorted(rows, key=_sort_key(q.sort), reverse=q.desc)
        limit = max(1, min(q.limit, MAX_PAGE))
        return {"total": len(rows), "rows": rows[q.offset: q.offset + limit], "facets": facets}

    def detail(self, ref: str, n: int) -> dict[str, Any]:
        idx = self.index(ref)
        return records.detail(idx.read(n), n)

    def tokens(self, ref: str, n: int, segment: int, start: int = 0, limit: int = TOKEN_PAGE) -> dict[str, Any]:
        """Tokens start..start+limit of one segment: text pieces with loss mask, version and logprob."""
        idx = self.index(ref)
        segs = records.trajectory_of(idx.read(n)).get("segments", [])
        if not 0 <= segment < len(segs):
            raise IndexError(segment)
        seg = segs[segment]
        end = min(len(seg["token_ids"]), start + max(1, min(limit, TOKEN_PAGE)))
        root = self.roots.roots[int(ref.split("/", 1)[0])]
        tok = self.tokenizers.get(model_of_run(idx.path.parent, root))
        sampled = [v for v, m in zip(seg["versions"], seg["loss_mask"]) if m]
        return {
            "segment": segment, "start": start, "end": end, "total": len(seg["token_ids"]),
            "version_range": [min(sampled), max(sampled)] if sampled else None,
            "decoded": tok is not None,
            "text": token_pieces(tok, seg["token_ids"][start:end]),
            "mask": seg["loss_mask"][start:end],
            "version": seg["versions"][start:end],
            "logprob": [round(x, 4) for x in seg["logprobs"][start:end]],
        }
