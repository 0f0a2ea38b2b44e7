"""Hybrid retriever: weighted fusion (RRF or normalised scores, fusion.py) of a BM25 and a dense retriever.

A hybrid index folder is a BM25 folder and a dense folder in one: the passage store is shared, and
`hybrid.json` holds the fusion config (and, after `asearcher index tune`, the dev-set measurements
that chose its weights). Either half can also be opened on its own.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from asearcher.api.documents import Hit, Passage
from asearcher.config import from_dict, to_dict
from asearcher.errors import UserError
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.config import HybridConfig, IndexConfig
from asearcher.retrieval.dense import DenseRetriever
from asearcher.retrieval.fusion import fuse, weighted_rrf
from asearcher.retrieval.passage_store import PassageStore, write_store

CONFIG_FILE = "hybrid.json"


def rrf_fuse(rankings: list[list[Hit]], k: int, topk: int) -> list[Hit]:
    """Plain (equal-weight) RRF: score(p) = sum over lists of 1 / (k + rank of p), rank from 1.

    >>> a, b, c = (Hit(Passage(i, "", ""), 0.0) for i in "abc")
    >>> [h.passage.id for h in rrf_fuse([[a, b], [b, c]], k=60, topk=3)]
    ['b', 'a', 'c']
    """
    return weighted_rrf(rankings, [1.0] * len(rankings), k, topk)


class HybridRetriever:
    """Weighted fusion of BM25 and dense hits; each side fetches `candidates` (>= topk) before fusing."""

    kind = "hybrid"

    def __init__(self, bm25: BM25Retriever, dense: DenseRetriever, config: HybridConfig | None = None) -> None:
        self.bm25, self.dense = bm25, dense
        self.config = config or HybridConfig()
        self._tmp: tempfile.TemporaryDirectory | None = None

    @classmethod
    def create(cls, config: IndexConfig, workdir: Path | None = None) -> HybridRetriever:
        """An empty hybrid retriever whose two halves share `workdir` (a temporary folder when None)."""
        tmp = None if workdir else tempfile.TemporaryDirectory(prefix="asearcher-hybrid-")
        d = Path(workdir or tmp.name)
        self = cls(BM25Retriever(config.bm25, d), DenseRetriever(config.dense, d), config.hybrid)
        self._tmp = tmp
        return self

    @property
    def dir(self) -> Path:
        return self.bm25.dir

    def index(self, passages: Iterable[Passage]) -> None:
        """Write the shared passage store once, then build both halves over it."""
        self.index_store(write_store(passages, self.dir))

    def index_store(self, store: PassageStore) -> None:
        """Build both halves over an existing store."""
        if self.bm25.dir.resolve() != self.dense.dir.resolve():
            raise ValueError("HybridRetriever halves must share one work folder")
        self.bm25.index_store(store)
        self.dense.index_store(store)

    def search(self, query: str, topk: int) -> list[Hit]:
        """The `topk` passages by fused rank."""
        return self.batch_search([query], topk)[0]

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """Batch both halves (the dense side encodes all queries at once), then fuse per query."""
        if topk < 1:
            return [[] for _ in queries]
        fetch = max(topk, self.config.candidates)
        lexical = self.bm25.batch_search(queries, fetch)
        semantic = self.dense.batch_search(queries, fetch)
        return [self.fuse(a, b, topk) for a, b in zip(lexical, semantic, strict=True)]

    def fuse(self, lexical: list[Hit], semantic: list[Hit], topk: int) -> list[Hit]:
        """The fused `topk` of one query's BM25 and dense lists, by this index's fusion config."""
        c = self.config
        return fuse([lexical, semantic], c.method, [c.bm25_weight, c.dense_weight], c.rrf_k, topk)

    def save(self, out_dir: Path) -> None:
        """Write both halves and the fusion config to `out_dir`."""
        self.bm25.save(out_dir)
        self.dense.save(out_dir)
        save_fusion(out_dir, self.config)

    @classmethod
    def load(cls, index_dir: Path) -> HybridRetriever:
        """Open a saved hybrid index."""
        index_dir = Path(index_dir)
        conf_path = index_dir / CONFIG_FILE
        if not conf_path.is_file():
            raise UserError(f"{index_dir}: not a hybrid index (missing {CONFIG_FILE})")
        try:
            config = from_dict(HybridConfig, json.loads(conf_path.read_text())["config"], "hybrid")
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{conf_path}: corrupt ({e})") from None
        return cls(BM25Retriever.load(index_dir), DenseRetriever.load(index_dir), config)

    def __len__(self) -> int:
        return len(self.bm25)


def save_fusion(index_dir: Path, config: HybridConfig, tuning: dict[str, Any] | None = None) -> None:
    """Write `hybrid.json`: the fusion config, plus the dev-set record of how it was tuned (if any)."""
    record: dict[str, Any] = {"config": to_dict(config)}
    if tuning is not None:
        record["tuning"] = tuning
    path = Path(index_dir) / CONFIG_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
