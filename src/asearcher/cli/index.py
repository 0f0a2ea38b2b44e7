"""`asearcher index`: build a BM25 / dense / hybrid index folder (thin wrapper over build_index)."""

from __future__ import annotations

import argparse
from pathlib import Path

from asearcher.cli.common import ParagraphHelpFormatter, add_config_arguments, config_from_args
from asearcher.config import help_epilog
from asearcher.errors import UserError
from asearcher.paths import default_index_dir
from asearcher.retrieval.config import IndexConfig

_EPILOG = """\
With no --corpus, indexes the embedded Wikipedia corpus (built first if needed) into the default
index folder, where `asearcher serve` and `asearcher ask` look. --corpus takes a passages file
(.jsonl / .jsonl.gz, Search-R1 {"id","contents"} or {"id","title","text"} lines) or a corpus folder
holding passages.jsonl. Re-running on the same corpus resumes an interrupted dense build.

examples:
  asearcher index --kind bm25
  asearcher index --corpus wiki-18.jsonl --out idx/e5 --kind dense dense.model=/models/e5-base-v2 \\
      'dense.query_prefix=query: ' 'dense.passage_prefix=passage: ' dense.index_type=hnsw

"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "index",
        help="build a search index (bm25, dense, hybrid) over a passage corpus",
        description="Build a search index folder over a passage corpus.",
        epilog=_EPILOG + help_epilog(IndexConfig),
        formatter_class=ParagraphHelpFormatter,
    )
    p.add_argument("--corpus", type=Path, metavar="PATH", help="passages file or corpus folder (default: embedded)")
    p.add_argument("--out", type=Path, metavar="DIR", help="index folder (default: the embedded corpus's index folder)")
    p.add_argument("--kind", choices=["bm25", "dense", "hybrid"], help="retriever kind (default: bm25, or kind= in the config)")
    add_config_arguments(p, config_metavar="YAML", config_help="IndexConfig YAML file (keys listed below)",
                         overrides_help="config overrides, e.g. dense.index_type=hnsw")
    p.set_defaults(func=run)


def _passages_file(corpus: Path) -> Path:
    if corpus.is_dir():
        if not (corpus / "passages.jsonl").is_file():
            raise UserError(f"--corpus: folder {corpus} has no passages.jsonl")
        return corpus / "passages.jsonl"
    if not corpus.is_file():
        raise UserError(f"--corpus: no such file or folder: {corpus}")
    return corpus


def run(args: argparse.Namespace) -> int:
    config = config_from_args(IndexConfig, args, flags={"kind": "kind"})
    if args.corpus is None:
        from asearcher.corpus import ensure_default_corpus

        corpus = ensure_default_corpus().passages
    else:
        corpus = _passages_file(args.corpus)
        if args.out is None:
            # The default folder belongs to the embedded corpus; `serve`/`ask` would trust it blindly.
            raise UserError("--out: required with --corpus (the default index folder is for the embedded corpus)")
    out = args.out or default_index_dir(config.kind)

    from asearcher.retrieval.index_io import build_index, read_meta

    build_index(corpus, out, config.kind, config)
    meta = read_meta(out)
    print(f"{meta['kind']} index of {meta['count']} passages in {out} ({meta['build_seconds']:.1f}s)")
    return 0
