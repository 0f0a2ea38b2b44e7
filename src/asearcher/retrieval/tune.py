"""Choosing a hybrid index's fusion on a dev set (`asearcher index tune`), and measuring its parts.

Both halves are searched once per question (`candidates` hits each); every fusion setting of the
grid is then scored on those lists, so a tune costs one dev-set pass whatever the grid size. The
grid contains each half alone (a weight of 0 for the other), and the rule below prefers settings
that match or beat the better half at every k, so on the tuning questions the chosen hybrid never
loses to its parts.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from asearcher.api.documents import Hit
from asearcher.config import to_dict
from asearcher.retrieval.config import HybridConfig
from asearcher.retrieval.devset import KS, DevQuestion, recall_at
from asearcher.retrieval.fusion import fuse
from asearcher.retrieval.hybrid import HybridRetriever, save_fusion

log = logging.getLogger(__name__)

_CHUNK = 64  # questions searched per batch_search call (bounds the dense encoder's batch)
_RRF_KS = (60, 20, 5)
_WEIGHTS = (1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05)


def fusion_grid(base: HybridConfig) -> Iterator[HybridConfig]:
    """The settings tried, in order of preference on ties: equal-weight RRF first, then weighted RRF
    (one side at 1, the other lighter), each half alone, then min-max score fusion."""
    seen = set()
    for rrf_k in (base.rrf_k, *_RRF_KS):
        for w in _WEIGHTS:
            for bm25_w, dense_w in ((w, 1.0), (1.0, w)):
                if (rrf_k, bm25_w, dense_w) not in seen:
                    seen.add((rrf_k, bm25_w, dense_w))
                    yield dataclasses.replace(base, method="rrf", rrf_k=rrf_k, bm25_weight=bm25_w, dense_weight=dense_w)
    yield dataclasses.replace(base, method="rrf", bm25_weight=0.0, dense_weight=1.0)
    yield dataclasses.replace(base, method="rrf", bm25_weight=1.0, dense_weight=0.0)
    for tenth in range(1, 10):
        yield dataclasses.replace(base, method="score", bm25_weight=round(1 - tenth / 10, 1), dense_weight=tenth / 10)


def search_halves(retriever: HybridRetriever, dev: Sequence[DevQuestion], fetch: int) -> tuple[list, list]:
    """The BM25 and dense hit lists (`fetch` each) of every dev question."""
    lexical: list[list[Hit]] = []
    semantic: list[list[Hit]] = []
    questions = [q.question for q in dev]
    for lo in range(0, len(questions), _CHUNK):
        chunk = questions[lo : lo + _CHUNK]
        lexical += retriever.bm25.batch_search(chunk, fetch)
        semantic += retriever.dense.batch_search(chunk, fetch)
    return lexical, semantic


def _fused(config: HybridConfig, lexical: list, semantic: list, topk: int) -> list[list[Hit]]:
    weights = [config.bm25_weight, config.dense_weight]
    return [fuse([a, b], config.method, weights, config.rrf_k, topk) for a, b in zip(lexical, semantic, strict=True)]


def _mean(recall: dict[int, float]) -> float:
    return sum(recall.values()) / len(recall)


def choose_fusion(
    dev: Sequence[DevQuestion], lexical: list, semantic: list, base: HybridConfig, ks: Sequence[int] = KS
) -> tuple[HybridConfig, dict[str, Any]]:
    """The grid setting with the best mean recall@ks among those >= both halves at every k (the best
    overall when none is), and a report of the halves' and the chosen setting's recall."""
    topk = max(ks)
    parts = {"bm25": recall_at(dev, lexical, ks), "dense": recall_at(dev, semantic, ks)}
    floor = {k: max(parts["bm25"][k], parts["dense"][k]) for k in ks}
    best: tuple[bool, float, HybridConfig, dict[int, float]] | None = None
    for config in fusion_grid(base):
        recall = recall_at(dev, _fused(config, lexical, semantic, topk), ks)
        dominates = all(recall[k] >= floor[k] for k in ks)
        key = (dominates, _mean(recall))
        if best is None or key > best[:2]:
            best = (dominates, _mean(recall), config, recall)
    assert best is not None  # the grid is never empty
    dominates, _, chosen, recall = best
    base_recall = recall_at(dev, _fused(base, lexical, semantic, topk), ks)
    report = {
        "questions": len(dev),
        "recall": {**parts, "hybrid_before": base_recall, "hybrid": recall},
        "dominates_parts": dominates,
    }
    return chosen, report


def tune_index(index_dir: Path, retriever: HybridRetriever, dev: Sequence[DevQuestion], dev_path: str,
               write: bool = True) -> dict[str, Any]:
    """Choose the fusion of the hybrid index in `index_dir` on `dev` and (if `write`) store it in
    its `hybrid.json` with the tuning report; returns the report (chosen config under "config")."""
    t0 = time.perf_counter()
    lexical, semantic = search_halves(retriever, dev, max(retriever.config.candidates, max(KS)))
    chosen, report = choose_fusion(dev, lexical, semantic, retriever.config)
    report.update(dev=dev_path, seconds=round(time.perf_counter() - t0, 1),
                  tuned_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), config=to_dict(chosen))
    if write:
        save_fusion(index_dir, chosen, {k: v for k, v in report.items() if k != "config"})
        retriever.config = chosen
    log.info("tuned %s on %d questions in %.1fs: %s", index_dir, len(dev), report["seconds"], to_dict(chosen))
    return report


def recall_table(retriever: HybridRetriever, dev: Sequence[DevQuestion], reranker: Any = None,
                 ks: Sequence[int] = KS) -> dict[str, dict[int, float]]:
    """Recall@ks of BM25, dense and the hybrid as configured (and the hybrid reranked, if given)."""
    lexical, semantic = search_halves(retriever, dev, max(retriever.config.candidates, max(ks)))
    fused = _fused(retriever.config, lexical, semantic, max(retriever.config.candidates, max(ks)))
    table = {
        "bm25": recall_at(dev, lexical, ks),
        "dense": recall_at(dev, semantic, ks),
        "hybrid": recall_at(dev, [f[: max(ks)] for f in fused], ks),
    }
    if reranker is not None:
        reranked = []
        for lo in range(0, len(dev), _CHUNK):
            reranked += reranker.rerank_batch([q.question for q in dev[lo : lo + _CHUNK]], fused[lo : lo + _CHUNK],
                                              max(ks))
        table["hybrid+rerank"] = recall_at(dev, reranked, ks)
    return table
