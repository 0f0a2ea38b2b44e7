"""Fusion of ranked lists (BM25 + dense): weighted reciprocal-rank fusion and normalised-score fusion.

Both take one weight per list. A weight of 0 drops a list's say entirely, so a tuned hybrid can fall
back to either half alone: that is what makes "hybrid >= the better half" reachable by tuning
(see `tune.py`), whereas equal-weight RRF lets a weak list pull good hits of a strong one down.
"""

from __future__ import annotations

from collections.abc import Sequence

from asearcher.api.documents import Hit, Passage


def _ranked(scores: dict[str, float], first: dict[str, Passage], topk: int) -> list[Hit]:
    order = sorted(first, key=lambda pid: -scores[pid])  # sorted() is stable: ties keep first-seen order
    return [Hit(first[pid], scores[pid]) for pid in order[:topk]]


def weighted_rrf(rankings: Sequence[list[Hit]], weights: Sequence[float], k: int, topk: int) -> list[Hit]:
    """score(p) = sum over lists i of weights[i] / (k + rank of p in list i), rank from 1.

    Passages are identified by id; ties keep the order in which passages were first seen (list by
    list), so the result is deterministic. With all weights 1 this is plain RRF (Cormack et al. 2009).

    >>> a, b, c = (Hit(Passage(i, "", ""), 0.0) for i in "abc")
    >>> [h.passage.id for h in weighted_rrf([[a, b], [b, c]], [1.0, 1.0], k=60, topk=3)]
    ['b', 'a', 'c']
    >>> [h.passage.id for h in weighted_rrf([[a, b], [c, b]], [0.0, 1.0], k=60, topk=2)]
    ['c', 'b']
    """
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[str, float] = {}
    first: dict[str, Passage] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        if w == 0:
            continue  # a list without say adds no passages either: the result is the other list's
        for rank, hit in enumerate(ranking, start=1):
            pid = hit.passage.id
            scores[pid] = scores.get(pid, 0.0) + w / (k + rank)
            first.setdefault(pid, hit.passage)
    return _ranked(scores, first, topk)


def minmax_fuse(rankings: Sequence[list[Hit]], weights: Sequence[float], topk: int) -> list[Hit]:
    """score(p) = sum over lists i of weights[i] * (s_i(p) - min_i) / (max_i - min_i).

    Each list's scores are min-max normalised over the hits it returned (a passage absent from a
    list gets 0 from it; a list whose scores are all equal gives each of its hits 1). BM25 scores
    are unbounded and query-dependent, cosine scores are not, so raw scores cannot be added.

    >>> h = lambda i, s: Hit(Passage(i, "", ""), s)
    >>> [(x.passage.id, round(x.score, 2)) for x in minmax_fuse([[h("a", 9), h("b", 3)], [h("b", .8), h("c", .4)]],
    ...                                                          [1.0, 1.0], topk=3)]
    [('a', 1.0), ('b', 1.0), ('c', 0.0)]
    """
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[str, float] = {}
    first: dict[str, Passage] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        if w == 0 or not ranking:
            continue
        lo, hi = min(h.score for h in ranking), max(h.score for h in ranking)
        for hit in ranking:
            norm = (hit.score - lo) / (hi - lo) if hi > lo else 1.0
            pid = hit.passage.id
            scores[pid] = scores.get(pid, 0.0) + w * norm
            first.setdefault(pid, hit.passage)
    return _ranked(scores, first, topk)


def fuse(rankings: Sequence[list[Hit]], method: str, weights: Sequence[float], rrf_k: int, topk: int) -> list[Hit]:
    """Dispatch on `method` ("rrf" or "score")."""
    if method == "rrf":
        return weighted_rrf(rankings, weights, rrf_k, topk)
    if method == "score":
        return minmax_fuse(rankings, weights, topk)
    raise ValueError(f"unknown fusion method {method!r}")
