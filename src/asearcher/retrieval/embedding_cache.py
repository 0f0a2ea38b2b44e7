"""Reusable passage embeddings: `<cache>/<key>.f32.npy`, keyed by everything that changes the vectors.

The key hashes the passage store's text file (what is embedded, byte for byte), every file of the
model folder, the passage prefix, max_seq_length and the compute dtype. Anything else (faiss index
type, batch size, threads, query settings) leaves the vectors unchanged, so a flat, an HNSW and a
hybrid build of one corpus share one entry. Entries are written whole (temporary name, then rename),
so a reader never sees a partial file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def _hash_file(h: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)


def model_fingerprint(model_dir: Path) -> str:
    """sha256 over the relative paths and contents of every file in a model folder."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(model_dir)).encode() + b"\0")
        _hash_file(h, path)
    return h.hexdigest()


def embedding_key(passages_file: Path, model_dir: Path, passage_prefix: str, max_seq_length: int, dtype: str) -> str:
    """The cache key of the vectors of the passages in `passages_file` under these settings."""
    corpus = hashlib.sha256()
    _hash_file(corpus, passages_file)
    parts = {"passages_sha256": corpus.hexdigest(), "model_sha256": model_fingerprint(model_dir),
             "passage_prefix": passage_prefix, "max_seq_length": max_seq_length, "dtype": dtype}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def load(cache_dir: Path, key: str, rows: int) -> np.ndarray | None:
    """The cached (rows, dim) float32 vectors for `key` (read-only memmap), or None."""
    path = Path(cache_dir) / f"{key}.f32.npy"
    if not path.is_file():
        return None
    emb = np.load(path, mmap_mode="r")
    if emb.ndim != 2 or emb.shape[0] != rows or emb.dtype != np.float32:
        # Same key but another shape can only be a damaged file: ignore it, it will be rewritten.
        log.warning("embedding cache %s: shape %s does not fit %d passages; re-embedding", path, emb.shape, rows)
        return None
    return emb


def save(cache_dir: Path, key: str, vectors_file: Path, info: dict) -> Path:
    """Copy a finished embeddings .npy file into the cache under `key`; returns the cached path."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    dest = cache_dir / f"{key}.f32.npy"
    tmp = cache_dir / f".{key}.{os.getpid()}.tmp"
    shutil.copyfile(vectors_file, tmp)
    os.replace(tmp, dest)
    info = {**info, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (cache_dir / f"{key}.json").write_text(json.dumps(info, indent=1))
    return dest
