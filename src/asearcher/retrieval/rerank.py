"""Cross-encoder reranking: an optional second stage over any retriever's hits.

    index_dir/rerank.json   {"config": RerankConfig}; `load_index` wraps the index in a
                            RerankedRetriever when it is there (written by `build_index` when
                            rerank.model is set, or by `asearcher index rerank`)

The server's micro-batcher hands `batch_search` a whole micro-batch of queries, and all their
query-passage pairs go through the cross-encoder together (`batch_size` pairs per forward), so the
reranker is batched across concurrent requests with no batching of its own.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asearcher.api.documents import Hit
from asearcher.config import from_dict, to_dict
from asearcher.errors import UserError
from asearcher.hf_load_lock import HF_LOAD_LOCK
from asearcher.retrieval.config import RerankConfig
from asearcher.retrieval.embedder import passage_text

CONFIG_FILE = "rerank.json"


class Reranker:
    """Scores (query, passage) pairs with a cross-encoder and reorders hits by that score."""

    def __init__(self, config: RerankConfig) -> None:
        if not config.model:
            raise UserError("rerank.model: empty (give the folder of a cross-encoder)")
        path = Path(config.model).expanduser()
        if not path.is_dir():
            raise UserError(f"rerank.model: {path} is not a folder (models cannot be downloaded here)")
        from sentence_transformers import CrossEncoder  # heavy import: only when reranking

        self.config = config
        with HF_LOAD_LOCK:
            self.model = CrossEncoder(str(path.resolve()), device=config.device, local_files_only=True,
                                      max_length=config.max_seq_length)
        # One logit per pair, used as is: a sigmoid would not change the order, and raw logits keep
        # the scores comparable to what the model's own forward pass gives.
        self._activation = _identity
        self._lock = threading.Lock()  # the tokenizer is shared (see embedder.py on transformers#47085)

    @classmethod
    def from_path(cls, model: str, **overrides: Any) -> Reranker:
        """A reranker of the cross-encoder folder `model` (other settings default)."""
        return cls(from_dict(RerankConfig, {"model": str(model), **overrides}, "rerank"))

    def score(self, query: str, hits: Sequence[Hit]) -> np.ndarray:
        """The cross-encoder's relevance logit of each hit for `query`."""
        return self.score_pairs([(query, passage_text(h.passage)) for h in hits])

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            out = self.model.predict(pairs, batch_size=self.config.batch_size, show_progress_bar=False,
                                     activation_fn=self._activation, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32).reshape(len(pairs))

    def rerank_batch(self, queries: Sequence[str], hit_lists: Sequence[Sequence[Hit]], topk: int) -> list[list[Hit]]:
        """Each query's hits reordered by cross-encoder score (ties keep first-stage order), cut to `topk`.

        The pairs of all queries are scored in one call, so a micro-batch is one batched pass."""
        pairs = [(q, passage_text(h.passage)) for q, hits in zip(queries, hit_lists, strict=True) for h in hits]
        scores = self.score_pairs(pairs)
        out, lo = [], 0
        for hits in hit_lists:
            s = scores[lo : lo + len(hits)]
            lo += len(hits)
            order = sorted(range(len(hits)), key=lambda i: -s[i])  # stable: ties keep first-stage order
            out.append([Hit(hits[i].passage, float(s[i])) for i in order[:topk]])
        return out


def _identity(x: Any) -> Any:
    return x


class RerankedRetriever:
    """A retriever whose top `candidates` hits are reordered by a cross-encoder."""

    def __init__(self, base: Any, reranker: Reranker) -> None:
        self.base, self.reranker = base, reranker
        self.kind = base.kind  # serves as the kind it wraps: /retrieve's contract does not change

    def search(self, query: str, topk: int) -> list[Hit]:
        """The `topk` reranked hits of one query."""
        return self.batch_search([query], topk)[0]

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """First stage for all queries, then one batched cross-encoder pass over all their pairs."""
        if topk < 1:
            return [[] for _ in queries]
        first = self.base.batch_search(queries, max(topk, self.reranker.config.candidates))
        return self.reranker.rerank_batch(queries, first, topk)

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name: str) -> Any:
        # Everything else (dir, store, config, dense, ...) is the base retriever's. `base` itself
        # is looked up here only before __init__ set it (copy, unpickling): no recursion then.
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


def save_rerank(index_dir: Path, config: RerankConfig) -> None:
    """Write `rerank.json` (an empty model removes it: reranking off)."""
    path = Path(index_dir) / CONFIG_FILE
    if not config.model:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"config": to_dict(config)}, indent=1))
    os.replace(tmp, path)


def load_rerank(index_dir: Path) -> RerankConfig | None:
    """The index folder's rerank config, or None when it has none."""
    path = Path(index_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return from_dict(RerankConfig, json.loads(path.read_text())["config"], "rerank")
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path}: corrupt ({e})") from None
