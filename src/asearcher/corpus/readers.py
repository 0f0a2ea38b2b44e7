"""Streaming readers for passage and page files (.jsonl or .jsonl.gz), one record per line.

Files may be tens of GB, so everything here iterates line by line and holds one record at a time.
Accepted passage lines (Search-R1 / FlashRAG and plain):

    {"id": "0", "contents": "\\"Title\\"\\ntext"}        {"id": "0", "title": "Title", "text": "text"}

Accepted page lines (ASearcher): {"url": ..., "contents": ...} or {"url": ..., "title": ..., "text": ...}.
An optional "url" on passages is kept; other extra fields are ignored.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from asearcher.api.documents import Page, Passage
from asearcher.corpus.urls import normalize_url
from asearcher.errors import UserError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ReadStats:
    """Counts gathered while streaming a file (pass one in to see them after the loop).

    Attributes:
        lines: lines read, blank ones included.
        records: records yielded.
        bad: malformed lines skipped (only with skip_bad=True).
        first_bad: the message for the first skipped line ("" when none).
    """

    lines: int = 0
    records: int = 0
    bad: int = 0
    first_bad: str = ""


class _BadLine(ValueError):
    """A malformed line; the reader adds the file and line number."""


def open_binary(path: Path) -> IO[bytes]:
    """Open a .jsonl or .jsonl.gz file for binary reading; UserError when it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def split_contents(contents: str) -> tuple[str, str]:
    """Split Search-R1 `contents` ('"Title"\\ntext') into (title, text); ("", contents) without a title line."""
    first, sep, rest = contents.partition("\n")
    first = first.strip()
    if sep and len(first) >= 2 and first[0] == '"' and first[-1] == '"':
        return first[1:-1], rest.strip()
    return "", contents.strip()


def _str_field(rec: dict[str, Any], name: str, *, required: bool) -> str:
    value = rec.get(name)
    if value is None:
        if required:
            raise _BadLine(f'missing field "{name}"')
        return ""
    if not isinstance(value, str):
        raise _BadLine(f'field "{name}" must be a string, got {type(value).__name__} {value!r:.60}')
    return value


def _title_text(rec: dict[str, Any]) -> tuple[str, str]:
    """(title, text) from either the title/text shape or the contents shape."""
    if "text" in rec:
        return _str_field(rec, "title", required=False), _str_field(rec, "text", required=True)
    if "contents" not in rec:
        raise _BadLine('needs "contents" or "text"')
    title, text = split_contents(_str_field(rec, "contents", required=True))
    return _str_field(rec, "title", required=False) or title, text


def parse_passage(rec: dict[str, Any]) -> Passage:
    """One passage from a decoded line; raises ValueError saying what is wrong."""
    pid = rec.get("id")
    # Integer ids are common (row numbers) and unambiguous; bools and floats are not.
    if isinstance(pid, int) and not isinstance(pid, bool):
        pid = str(pid)
    elif pid is None:
        raise _BadLine('missing field "id"')
    elif not isinstance(pid, str):
        raise _BadLine(f'field "id" must be a string, got {type(pid).__name__} {pid!r:.60}')
    if not pid.strip():
        raise _BadLine('field "id" is empty')
    title, text = _title_text(rec)
    return Passage(id=pid, title=title, text=text, url=_str_field(rec, "url", required=False))


def parse_page(rec: dict[str, Any]) -> Page:
    """One page from a decoded line (URL normalised); raises ValueError saying what is wrong."""
    url = _str_field(rec, "url", required=True)
    if not url.strip():
        raise _BadLine('field "url" is empty')
    title, text = _title_text(rec)
    return Page(url=normalize_url(url), title=title, text=text)


def iter_records(
    path: Path, parse: Callable[[dict[str, Any]], T], *, skip_bad: bool = False, stats: ReadStats | None = None
) -> Iterator[T]:
    """Stream `parse(json_line)` over a .jsonl(.gz) file; blank lines are skipped.

    A malformed line raises UserError naming the file and 1-based line; with skip_bad it is
    counted in `stats` and a warning with the count is logged when the file is done.
    """
    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    with open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            stats.lines += 1
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict):
                    raise _BadLine(f"expected a JSON object, got {type(rec).__name__}")
                item = parse(rec)
            except (ValueError, _BadLine) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                msg = f"{path}:{lineno}: {e if isinstance(e, _BadLine) else f'not valid JSON ({e})'}"
                if not skip_bad:
                    raise UserError(msg + " (pass --skip-bad / skip_bad=True to skip such lines)") from None
                stats.bad += 1
                stats.first_bad = stats.first_bad or msg
                continue
            stats.records += 1
            yield item
    if stats.bad:
        log.warning("%s: skipped %d malformed line(s); first: %s", path, stats.bad, stats.first_bad)


def iter_passages(path: Path, *, skip_bad: bool = False, stats: ReadStats | None = None) -> Iterator[Passage]:
    """Stream passages from a Search-R1/FlashRAG or title/text .jsonl(.gz) file (see module docstring)."""
    return iter_records(path, parse_passage, skip_bad=skip_bad, stats=stats)


def iter_pages(path: Path, *, skip_bad: bool = False, stats: ReadStats | None = None) -> Iterator[Page]:
    """Stream pages (URLs normalised) from an ASearcher pages .jsonl(.gz) file."""
    return iter_records(path, parse_page, skip_bad=skip_bad, stats=stats)
