"""`asearcher index`: build a BM25 / dense / hybrid index folder (thin wrapper over build_index);
`index devset | tune | recall` build a retrieval dev set, tune a hybrid's fusion on it, and measure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asearcher.cli.common import IntermixedParser, ParagraphHelpFormatter, add_config_arguments, config_from_args
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


class _IndexParser(IntermixedParser):
    """Dispatches `index ACTION ...` to the action's parser; otherwise parses a build as usual."""

    actions: dict[str, argparse.ArgumentParser]

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if args and args[0] in self.actions and not self._inside:
            return self.actions[args[0]].parse_known_args(args[1:], namespace)
        return super().parse_known_args(args, namespace)


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
    p.__class__ = _IndexParser
    p.actions = {"import": _import_parser(), "devset": _devset_parser(), "tune": _tune_parser(),
                 "recall": _recall_parser()}


def _action_parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"asearcher index {name}", description=description,
                                   formatter_class=ParagraphHelpFormatter)


def _import_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asearcher index import",
        description="Serve a faiss index built by Search-R1's / ASearcher's index builder (e.g. e5_Flat.index + "
        "wiki-18.jsonl) without embedding the corpus again: row i of the index must be line i of the corpus. "
        "Give the model the index was built with and its query prefix. --kind hybrid also builds BM25 "
        "over the same passages.",
        epilog="example:\n  asearcher index import --faiss e5_Flat.index --corpus wiki-18.jsonl --out idx/e5 \\\n"
        "      dense.model=/models/e5-base-v2 'dense.query_prefix=query: '\n\n" + help_epilog(IndexConfig),
        formatter_class=ParagraphHelpFormatter,
    )
    p.add_argument("--faiss", type=Path, required=True, metavar="FILE", help="the builder's faiss index file")
    p.add_argument("--corpus", type=Path, required=True, metavar="FILE", help="the corpus JSONL it was built from")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="index folder to write")
    p.add_argument("--kind", choices=["dense", "hybrid"], default="dense", help="dense (default) or hybrid")
    add_config_arguments(p, config_metavar="YAML", config_help="IndexConfig YAML file",
                         overrides_help="e.g. dense.model=/models/e5-base-v2 'dense.query_prefix=query: '")
    p.set_defaults(func=run_import, command="index")
    return p


def _devset_parser() -> argparse.ArgumentParser:
    p = _action_parser(
        "devset",
        "Write a retrieval dev set of the embedded corpus: JSONL of {question, url, title}, the question "
        "from the corpus QA set (a page's Wikidata short description), the evidence its page. Part 'tune' "
        "draws from the QA train pages, 'heldout' from the QA test pages (disjoint by construction).",
    )
    p.add_argument("--part", choices=["tune", "heldout"], required=True, help="which pages to draw from")
    p.add_argument("--n", type=int, default=1000, help="questions (fewer if the part has fewer pages)")
    p.add_argument("--seed", type=int, default=0, help="which pages and question templates")
    p.add_argument("--form", choices=["question", "description"], default="question",
                   help="question: the QA question as asked; description: the short description alone (a keyword query)")
    p.add_argument("--corpus", type=Path, metavar="DIR", help="corpus folder with pages.jsonl (default: embedded)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="dev-set JSONL to write")
    p.set_defaults(func=run_devset, command="index")
    return p


def _tune_parser() -> argparse.ArgumentParser:
    p = _action_parser(
        "tune",
        "Choose a hybrid index's fusion (RRF or normalised scores, per-retriever weights) on a dev set and "
        "store it in the index's hybrid.json, with the dev-set recall that chose it. Among the settings "
        "at least as good as the better of BM25 and dense at R@1/5/10, the best mean recall wins.",
    )
    p.add_argument("--index", type=Path, metavar="DIR", help="hybrid index folder (default: the embedded corpus's)")
    p.add_argument("--dev", type=Path, required=True, metavar="FILE",
                   help='dev-set JSONL, {"question", "url" or "title"} per line (see `index devset`)')
    p.add_argument("--dry-run", action="store_true", help="print the choice without writing hybrid.json")
    p.set_defaults(func=run_tune, command="index")
    return p


def _recall_parser() -> argparse.ArgumentParser:
    p = _action_parser("recall", "Recall@1/5/10 of BM25, dense and the hybrid of a hybrid index on a dev set.")
    p.add_argument("--index", type=Path, metavar="DIR", help="hybrid index folder (default: the embedded corpus's)")
    p.add_argument("--dev", type=Path, required=True, metavar="FILE", help="dev-set JSONL (see `index devset`)")
    p.add_argument("--rerank", metavar="MODEL", help="also rerank the hybrid with this cross-encoder (local folder)")
    p.set_defaults(func=run_recall, command="index")
    return p


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


def run_devset(args: argparse.Namespace) -> int:
    from asearcher.retrieval.devset import wiki_lead_devset, write_devset

    if args.corpus is None:
        from asearcher.corpus import ensure_default_corpus

        corpus = ensure_default_corpus().root
    else:
        corpus = args.corpus
    records = wiki_lead_devset(corpus, args.part, args.n, args.seed, args.form)
    write_devset(records, args.out)
    print(f"{len(records)} {args.part} questions in {args.out}")
    return 0


def _open_hybrid(index: Path | None):
    from asearcher.retrieval.hybrid import HybridRetriever
    from asearcher.retrieval.index_io import load_index

    index = index or default_index_dir("hybrid")
    retriever = load_index(index)
    if not isinstance(retriever, HybridRetriever):
        raise UserError(f"--index: {index} is a {retriever.kind} index; tuning needs a hybrid one (--kind hybrid)")
    return index, retriever


def _print_table(table: dict[str, dict[int, float]]) -> None:
    print("| retriever | " + " | ".join(f"R@{k}" for k in next(iter(table.values()))) + " |")
    for name, recall in table.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in recall.values()) + " |")


def run_tune(args: argparse.Namespace) -> int:
    from asearcher.retrieval.devset import read_devset
    from asearcher.retrieval.tune import tune_index

    index, retriever = _open_hybrid(args.index)
    report = tune_index(index, retriever, read_devset(args.dev), str(args.dev), write=not args.dry_run)
    _print_table(report["recall"])
    print(("would store" if args.dry_run else f"stored in {index}/hybrid.json:"), json.dumps(report["config"]))
    if not report["dominates_parts"]:
        print("note: no setting matched the better half at every k; the best mean recall was kept")
    return 0


def run_recall(args: argparse.Namespace) -> int:
    from asearcher.retrieval.devset import read_devset
    from asearcher.retrieval.tune import recall_table

    _index, retriever = _open_hybrid(args.index)
    reranker = None
    if args.rerank:
        from asearcher.retrieval.rerank import Reranker

        reranker = Reranker.from_path(args.rerank)
    _print_table(recall_table(retriever, read_devset(args.dev), reranker))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from asearcher.retrieval.import_index import import_faiss_index

    config = config_from_args(IndexConfig, args, flags={"kind": "kind"})
    meta = import_faiss_index(args.faiss, args.corpus, args.out, config)
    print(f"{meta['kind']} index of {meta['count']} passages in {args.out} (vectors from {args.faiss})")
    return 0
