"""`asearcher index import`: serve a faiss index built by Search-R1's / ASearcher's index builder.

Their builder (FlashRAG's) writes `<method>_<faiss type>.index` (e.g. `e5_Flat.index`): a faiss
index made by `index_factory(dim, type, METRIC_INNER_PRODUCT)` over the L2-normalised embeddings of
the corpus JSONL's `contents`, row i = line i of the corpus. Their server returns line i for row i,
with the title as the (quoted) first line of `contents`. So an import needs no embedding: the corpus
becomes our passage store in line order, the faiss file becomes `dense.faiss` (hard-linked when the
folders share a file system, else copied), and the query side is configured to match the builder:
the same model folder, and its query prefix ("query: " for e5) given by the user.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import faiss
from tqdm import tqdm

from asearcher.config import to_dict
from asearcher.corpus.readers import iter_passages
from asearcher.errors import UserError
from asearcher.retrieval.config import IndexConfig
from asearcher.retrieval.dense import CONFIG_FILE, FAISS_FILE, DenseRetriever, _write_json
from asearcher.retrieval.embedder import resolve_model
from asearcher.retrieval.passage_store import write_store

log = logging.getLogger(__name__)


def faiss_index_type(index: faiss.Index, path: Path) -> str:
    """Our `dense.index_type` name for a loaded faiss index; UserError for what we cannot serve."""
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise UserError(f"{path}: faiss metric {index.metric_type} is not inner product (Search-R1 builds with "
                        "METRIC_INNER_PRODUCT); scores would be distances, lowest first")
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexScalarQuantizer):
        return "sq8"
    if isinstance(inner, faiss.IndexIVF):
        return "ivfpq"
    raise UserError(f"{path}: faiss index type {type(inner).__name__} is not one of Flat, HNSW, SQ, IVF")


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)  # no second copy of a 60 GB Flat index when the folders share a file system
    except OSError:
        log.info("copying %s to %s (not on the same file system)", src, dst)
        shutil.copyfile(src, dst)


def import_faiss_index(faiss_path: Path, corpus_path: Path, out_dir: Path, config: IndexConfig) -> dict:
    """Make `out_dir` a dense (or, with config.kind "hybrid", hybrid) index serving `faiss_path`'s
    vectors over `corpus_path`'s passages; returns the meta written to `meta.json`."""
    from asearcher.retrieval.index_io import write_meta

    faiss_path, corpus_path = Path(faiss_path).expanduser().resolve(), Path(corpus_path).expanduser().resolve()
    for p in (faiss_path, corpus_path):
        if not p.is_file():
            raise UserError(f"{p}: no such file")
    if config.kind not in ("dense", "hybrid"):
        raise UserError(f"kind: an imported faiss index is dense or hybrid, not {config.kind!r}")
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)
    index = faiss.read_index(str(faiss_path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    index_type = faiss_index_type(index, faiss_path)
    store = write_store(tqdm(iter_passages(corpus_path), desc="read corpus", unit="psg", mininterval=1.0), out,
                        {"path": str(corpus_path), "imported_faiss": str(faiss_path)})
    if index.ntotal != len(store):
        raise UserError(f"{faiss_path} holds {index.ntotal} vectors but {corpus_path} has {len(store)} passages: "
                        "they were not built together (row i of the index must be line i of the corpus)")
    dense = config.dense
    dense.index_type = index_type  # type: ignore[assignment]
    model_path = resolve_model(dense.model)
    _check_dimension(model_path, index.d, faiss_path)
    del index
    _link_or_copy(faiss_path, out / FAISS_FILE)
    _write_json(out / CONFIG_FILE, {"config": to_dict(dense), "model_path": str(model_path),
                                    "passage_dtype": None, "imported_from": str(faiss_path)})
    if config.kind == "hybrid":
        from asearcher.retrieval.bm25 import BM25Retriever
        from asearcher.retrieval.hybrid import save_fusion

        bm25 = BM25Retriever(config.bm25, out)
        bm25.index_store(store)
        bm25.save(out)
        save_fusion(out, config.hybrid)
    DenseRetriever.load(out)  # fails loudly now rather than when served
    meta = {"kind": config.kind, "count": len(store), "corpus": str(corpus_path), "pages": None,
            "config": to_dict(config), "imported_faiss": str(faiss_path)}
    write_meta(out, meta)
    return meta


def _check_dimension(model_path: Path, dim: int, faiss_path: Path) -> None:
    """The model's embedding size must be the index's; read from its config without loading weights
    (skipped for models with a projection layer, whose output size the config does not give)."""
    import json

    if any(p.is_dir() and "Dense" in p.name for p in model_path.iterdir()):
        return
    for name in ("config.json", "sentence_bert_config.json"):
        f = model_path / name
        if f.is_file():
            cfg = json.loads(f.read_text())
            size = cfg.get("hidden_size") or cfg.get("d_model")
            if size and int(size) != dim:
                raise UserError(f"dense.model: {model_path} embeds in {size} dimensions but {faiss_path} holds "
                                f"{dim}-dimensional vectors (give the model the index was built with)")
            return
