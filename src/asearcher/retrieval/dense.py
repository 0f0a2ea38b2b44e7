"""Dense retriever: sentence-transformers embeddings in a faiss index (flat, hnsw, sq8 or ivfpq).

Index folder: the shared passage store, `dense.faiss`, `dense.json` (config + model path). While
building, vectors go batch by batch into `embeddings.f32.npy` (a memmap) and the number of rows done
into `embeddings.progress.json`, so memory stays bounded and an interrupted build resumes at the
first unfinished batch. Both files are removed once the faiss index is written.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from asearcher.api.documents import Hit, Passage
from asearcher.config import from_dict, to_dict
from asearcher.errors import UserError
from asearcher.hardware import resolve_dtype
from asearcher.retrieval import embedding_cache
from asearcher.retrieval.config import DenseConfig
from asearcher.retrieval.embedder import Embedder, resolve_model, set_threads
from asearcher.retrieval.passage_store import META_FILE, OFFSETS_FILE, TEXT_FILE, PassageStore, write_store
from asearcher.retrieval.query_text import clean_query

log = logging.getLogger(__name__)

CONFIG_FILE = "dense.json"
FAISS_FILE = "dense.faiss"
EMB_FILE = "embeddings.f32.npy"
PROGRESS_FILE = "embeddings.progress.json"
_ADD_CHUNK = 65_536  # vectors handed to faiss at once (bounds the copy out of the memmap)
_TRAIN_MAX = 100_000  # training sample for sq8 / ivfpq


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _new_faiss_index(config: DenseConfig, dim: int, n: int) -> faiss.Index:
    """An empty faiss index of the configured type for `n` vectors of `dim` (inner product)."""
    ip = faiss.METRIC_INNER_PRODUCT
    if config.index_type == "flat":
        return faiss.IndexFlatIP(dim)
    if config.index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, ip)
        index.hnsw.efConstruction = config.hnsw_ef_construction
        return index
    if config.index_type == "sq8":
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, ip)
    if dim % config.pq_m:
        raise UserError(f"dense.pq_m: {config.pq_m} does not divide the embedding dimension {dim}")
    # k-means needs ~39 points per centroid; small corpora get fewer lists and PQ codes.
    nlist = max(1, min(config.ivf_nlist, n // 39))
    nbits = 8 if n >= 256 * 39 else max(1, min(8, int(math.log2(max(2, n // 39)))))
    return faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, config.pq_m, nbits, ip)


def _set_search_params(index: faiss.Index, config: DenseConfig) -> None:
    if config.index_type == "hnsw":
        index.hnsw.efSearch = config.hnsw_ef_search
    elif config.index_type == "ivfpq":
        faiss.extract_index_ivf(index).nprobe = config.ivf_nprobe


class DenseRetriever:
    """Inner-product search over normalised embeddings (cosine similarity)."""

    kind = "dense"

    def __init__(self, config: DenseConfig | None = None, workdir: Path | None = None) -> None:
        """`workdir` receives the index files as they are built (a temporary folder when None)."""
        self.config = config or DenseConfig()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="asearcher-dense-")
        self.dir = Path(workdir or self._tmp.name)
        self.store: PassageStore | None = None
        self.faiss_index: faiss.Index | None = None
        self._embedder: Embedder | None = None
        self.passage_dtype: str | None = None  # dtype the indexed vectors were computed in (provenance)

    @property
    def embedder(self) -> Embedder:
        """The query/passage encoder (loaded on first use)."""
        if self._embedder is None:
            self._embedder = Embedder(self.config)
        return self._embedder

    def index(self, passages: Iterable[Passage]) -> None:
        """Write the passage store, embed it, and build the faiss index in the work folder."""
        self.index_store(write_store(passages, self.dir))

    def index_store(self, store: PassageStore) -> None:
        """Embed an existing store (resuming unfinished batches) and build the faiss index."""
        t0 = time.perf_counter()
        set_threads(self.config.threads)  # faiss too, even when the vectors come from the cache
        emb = self._cached_embeddings(store)
        if emb is None:
            emb = self._embed_all(store)
            self._cache_embeddings(store)
        index = _new_faiss_index(self.config, emb.shape[1], len(store))
        if not index.is_trained and len(store):
            rng = np.random.default_rng(0)
            sample = np.sort(rng.choice(len(store), size=min(len(store), _TRAIN_MAX), replace=False))
            index.train(np.ascontiguousarray(emb[sample]))
        for lo in tqdm(range(0, len(store), _ADD_CHUNK), desc=f"faiss {self.config.index_type}", unit="chunk"):
            index.add(np.ascontiguousarray(emb[lo : lo + _ADD_CHUNK]))
        faiss.write_index(index, str(self.dir / FAISS_FILE))
        del emb
        (self.dir / EMB_FILE).unlink(missing_ok=True)
        (self.dir / PROGRESS_FILE).unlink(missing_ok=True)
        _set_search_params(index, self.config)
        self.store, self.faiss_index = store, index
        log.info("dense: indexed %d passages in %.1fs", len(store), time.perf_counter() - t0)

    def _cache_key(self, store: PassageStore) -> str:
        return embedding_cache.embedding_key(
            store.dir / TEXT_FILE, resolve_model(self.config.model), self.config.passage_prefix,
            self.config.max_seq_length, resolve_dtype(self.config.dtype, self.config.device))

    def _cached_embeddings(self, store: PassageStore) -> np.ndarray | None:
        """The store's vectors from `embedding_cache` (without loading the model), or None."""
        if not self.config.embedding_cache or not len(store):
            return None
        cache_dir = Path(self.config.embedding_cache).expanduser()
        emb = embedding_cache.load(cache_dir, self._cache_key(store), len(store))
        if emb is not None:
            self.passage_dtype = resolve_dtype(self.config.dtype, self.config.device)
            log.info("dense: %d passage vectors taken from the embedding cache %s", len(store), cache_dir)
        return emb

    def _cache_embeddings(self, store: PassageStore) -> None:
        if not self.config.embedding_cache or not len(store):
            return
        info = {"model": str(self.embedder.model_path), "rows": len(store), "dim": self.embedder.dim,
                "dtype": self.embedder.dtype, "passage_prefix": self.config.passage_prefix,
                "max_seq_length": self.config.max_seq_length, "store": str(store.dir)}
        path = embedding_cache.save(Path(self.config.embedding_cache).expanduser(), self._cache_key(store),
                                    self.dir / EMB_FILE, info)
        log.info("dense: passage vectors saved to the embedding cache as %s", path)

    def _embed_all(self, store: PassageStore) -> np.ndarray:
        """All passage vectors as a (rows, dim) memmap, resuming a matching unfinished run."""
        n, dim = len(store), self.embedder.dim
        key = {
            "model": str(self.embedder.model_path),
            "passage_prefix": self.config.passage_prefix,
            "max_seq_length": self.config.max_seq_length,
            "dtype": self.embedder.dtype,
            "rows": n,
            "dim": dim,
            "store_bytes": (store.dir / TEXT_FILE).stat().st_size,
        }
        progress_path, emb_path = self.dir / PROGRESS_FILE, self.dir / EMB_FILE
        done = 0
        if progress_path.is_file() and emb_path.is_file():
            prev = json.loads(progress_path.read_text())
            if prev.get("key") == key:
                done = int(prev["done"])
                log.info("dense: resuming the embedding of %s at row %d of %d", self.dir, done, n)
        if done == 0:
            emb = np.lib.format.open_memmap(emb_path, mode="w+", dtype=np.float32, shape=(max(n, 1), dim))
        else:
            emb = np.load(emb_path, mmap_mode="r+")
        bs = self.config.batch_size
        bar = tqdm(total=n, initial=done, desc="embed passages", unit="psg", mininterval=1.0)
        for lo, batch in store.iter_batches(bs, start=done):
            emb[lo : lo + len(batch)] = self.embedder.encode_passages(batch)
            emb.flush()
            # Progress is recorded only after the rows are flushed: a crash loses at most one batch.
            _write_json(progress_path, {"key": key, "done": lo + len(batch)})
            bar.update(len(batch))
        bar.close()
        self.passage_dtype = self.embedder.dtype
        return emb[:n]

    def search(self, query: str, topk: int) -> list[Hit]:
        """The `topk` passages most similar to the query."""
        return self.batch_search([query], topk)[0]

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """Encode all queries in one batch and search them together."""
        if self.faiss_index is None:
            raise RuntimeError("DenseRetriever.search before index() or load()")
        if not queries or topk < 1 or len(self) == 0:
            return [[] for _ in queries]
        # clean_query: lone surrogates would make the Rust tokenizer raise (see query_text.py).
        vectors = self.embedder.encode_queries([clean_query(q) for q in queries])
        scores, rows = self.faiss_index.search(vectors, min(topk, len(self)))
        out = []
        for srow, irow in zip(scores, rows, strict=True):
            keep = [(float(s), int(i)) for s, i in zip(srow, irow, strict=True) if i >= 0]
            passages = self.store.get_many(i for _s, i in keep)
            out.append([Hit(p, s) for p, (s, _i) in zip(passages, keep, strict=True)])
        return out

    def save(self, out_dir: Path) -> None:
        """Write the index to `out_dir` (copying the files when it is not the work folder)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if out_dir.resolve() != self.dir.resolve():
            for name in (TEXT_FILE, OFFSETS_FILE, META_FILE, FAISS_FILE):
                shutil.copy2(self.dir / name, out_dir / name)
        model = str(self._embedder.model_path if self._embedder else resolve_model(self.config.model))
        # passage_dtype is provenance only: vectors are float32 whichever dtype computed them, and
        # queries may be encoded in another one (fp32/bf16 vectors of one text: cosine > 0.9999).
        _write_json(out_dir / CONFIG_FILE, {"config": to_dict(self.config), "model_path": model,
                                            "passage_dtype": self.passage_dtype})

    @classmethod
    def load(cls, index_dir: Path, config_overrides: dict[str, Any] | None = None) -> DenseRetriever:
        """Open a saved dense index; `config_overrides` may change search-time knobs (hnsw_ef_search, ...)."""
        index_dir = Path(index_dir)
        conf_path = index_dir / CONFIG_FILE
        if not conf_path.is_file() or not (index_dir / FAISS_FILE).is_file():
            raise UserError(f"{index_dir}: not a dense index (missing {CONFIG_FILE} or {FAISS_FILE})")
        try:
            saved = json.loads(conf_path.read_text())
            data = saved["config"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{conf_path}: corrupt ({e})") from None
        config = from_dict(DenseConfig, {**data, **(config_overrides or {})}, "dense")
        self = cls(config, workdir=index_dir)
        self.passage_dtype = saved.get("passage_dtype")  # absent in folders built before it was recorded
        self.store = PassageStore(index_dir)
        # Memory-mapped, read-only: the vectors (flat / sq8 / hnsw codes, IVF lists) stay in the page
        # cache, so N server processes (`asearcher serve --workers N`) share one copy of the index.
        self.faiss_index = faiss.read_index(str(index_dir / FAISS_FILE), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        if self.faiss_index.ntotal != len(self.store):
            raise UserError(
                f"{index_dir}: {FAISS_FILE} holds {self.faiss_index.ntotal} vectors but the store has "
                f"{len(self.store)} passages (rebuild the index)"
            )
        _set_search_params(self.faiss_index, config)
        return self

    def __len__(self) -> int:
        return len(self.store) if self.store is not None else 0
