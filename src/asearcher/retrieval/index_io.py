"""Index folders: build one from a corpus file, open one by its `meta.json`, and the default index.

    out_dir/meta.json   {"kind", "count", "corpus", "pages", "config", "build_seconds", ...}
                        written last: a folder without it is an unfinished build

The passage store is reused when an interrupted build is restarted on the same corpus file, and
the dense retriever resumes its embedding batches, so re-running `asearcher index` is cheap.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asearcher.api.retriever import Retriever
from asearcher.config import from_dict, to_dict
from asearcher.corpus.readers import iter_passages
from asearcher.errors import UserError
from asearcher.paths import default_index_dir, home
from asearcher.retrieval.config import IndexConfig
from asearcher.retrieval.passage_store import PassageStore, store_source, write_store

log = logging.getLogger(__name__)

META = "meta.json"
KINDS = ("bm25", "dense", "hybrid")


def make_retriever(config: IndexConfig, workdir: Path | None = None) -> Retriever:
    """An empty retriever of `config.kind` that writes its files into `workdir`."""
    if config.kind == "bm25":
        from asearcher.retrieval.bm25 import BM25Retriever

        return BM25Retriever(config.bm25, workdir)
    if config.kind == "dense":
        from asearcher.retrieval.dense import DenseRetriever

        return DenseRetriever(config.dense, workdir)
    if config.kind == "hybrid":
        from asearcher.retrieval.hybrid import HybridRetriever

        return HybridRetriever.create(config, workdir)
    raise UserError(f"kind: {config.kind!r} is not one of {list(KINDS)}")


def _fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _pages_next_to(corpus: Path) -> str | None:
    """The pages file that sits next to the corpus (what `/access` serves), if any."""
    for name in ("pages.jsonl", "pages.jsonl.gz"):
        if (corpus.parent / name).is_file():
            return str(corpus.parent / name)
    return None


def build_index(corpus_path: Path, out_dir: Path, kind: str = "bm25", config: IndexConfig | None = None) -> Retriever:
    """Index the passages JSONL at `corpus_path` into `out_dir` and return the opened retriever."""
    corpus = Path(corpus_path).expanduser().resolve()
    if not corpus.is_file():
        raise UserError(f"corpus file not found: {corpus}")
    config = config or IndexConfig()
    if kind != config.kind:
        config = from_dict(IndexConfig, {**to_dict(config), "kind": kind})
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / META).unlink(missing_ok=True)  # the folder is "unfinished" until meta.json is back
    t0 = time.perf_counter()
    source = _fingerprint(corpus)
    if store_source(out) == source:
        log.info("%s: reusing the passage store of an earlier build of %s", out, corpus)
        store = PassageStore(out)
    else:
        passages = tqdm(iter_passages(corpus), desc="read corpus", unit="psg", mininterval=1.0)
        store = write_store(passages, out, source)
    retriever = make_retriever(config, out)
    retriever.index_store(store)
    retriever.save(out)
    from asearcher.retrieval.rerank import save_rerank

    save_rerank(out, config.rerank)
    meta = {
        "kind": config.kind,
        "count": len(store),
        "corpus": str(corpus),
        "pages": _pages_next_to(corpus),
        "config": to_dict(config),
        "build_seconds": round(time.perf_counter() - t0, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_meta(out, meta)
    log.info("built %s index of %d passages in %s (%.1fs)", config.kind, len(store), out, meta["build_seconds"])
    return retriever


def write_meta(index_dir: Path, meta: dict[str, Any]) -> None:
    """Publish `meta.json` (atomically: its presence marks a finished index)."""
    tmp = Path(index_dir) / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, Path(index_dir) / META)


def read_meta(index_dir: Path) -> dict[str, Any]:
    """The `meta.json` of an index folder; UserError naming the folder when missing or corrupt."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise UserError(f"index folder not found: {index_dir} (build it with `asearcher index`)")
    path = index_dir / META
    if not path.is_file():
        raise UserError(f"{index_dir}: no {META}: not an index, or an unfinished build (re-run `asearcher index`)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: corrupt JSON ({e})") from None
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if kind not in KINDS:
        raise UserError(f"{path}: field kind must be one of {list(KINDS)}, got {kind!r}")
    return meta


def load_index(index_dir: Path) -> Retriever:
    """Open the index in `index_dir`, whatever its kind, behind its reranker when it has one; a
    folder with `shards.json` opens as a router over its shards (shards.py)."""
    from asearcher.retrieval.rerank import Reranker, RerankedRetriever, load_rerank
    from asearcher.retrieval.shards import CONFIG_FILE as SHARDS_FILE
    from asearcher.retrieval.shards import load_router

    if (Path(index_dir) / SHARDS_FILE).is_file():
        return load_router(index_dir, load_index)

    retriever = _load_first_stage(index_dir)
    rerank = load_rerank(index_dir)
    return RerankedRetriever(retriever, Reranker(rerank)) if rerank is not None else retriever


def _load_first_stage(index_dir: Path) -> Retriever:
    kind = read_meta(index_dir)["kind"]
    if kind == "bm25":
        from asearcher.retrieval.bm25 import BM25Retriever

        return BM25Retriever.load(index_dir)
    if kind == "dense":
        from asearcher.retrieval.dense import DenseRetriever

        return DenseRetriever.load(index_dir)
    from asearcher.retrieval.hybrid import HybridRetriever

    return HybridRetriever.load(index_dir)


def ensure_default_index(kind: str = "bm25") -> Path:
    """The default corpus's index of `kind` under $ASEARCHER_HOME, built first if missing."""
    if kind not in KINDS:
        raise UserError(f"kind: {kind!r} is not one of {list(KINDS)}")
    out = default_index_dir(kind)
    if (out / META).is_file():
        return out
    from asearcher.corpus import ensure_default_corpus

    corpus = ensure_default_corpus()
    log.info("building the default %s index in %s (once)", kind, out)
    build_index(corpus.passages, out, kind, default_index_config(kind))
    return out


def default_index_config(kind: str) -> IndexConfig:
    """The config of the default corpus's indexes: defaults, plus an embedding cache under $ASEARCHER_HOME.

    The corpus is small (~16 MB of MiniLM vectors), so keeping its embeddings costs little and lets the
    dense and hybrid indexes share one embedding pass (minutes on 2 cores).
    """
    config = IndexConfig(kind=kind)
    config.dense.embedding_cache = str(home() / "embeddings")
    # Fusion tuned with `asearcher index tune` on the corpus's own dev set (1,000 + 1,000 "tune"
    # questions of both forms; docs/retrieval.md): >= both halves at R@1/5/10 on it and on the
    # held-out part, where equal-weight RRF was already >= both but lower at R@1.
    config.hybrid.method, config.hybrid.bm25_weight, config.hybrid.dense_weight = "score", 0.6, 0.4
    return config
