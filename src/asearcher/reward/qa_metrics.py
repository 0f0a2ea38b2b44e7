"""SQuAD/HotpotQA answer metrics: EM, token F1 and Search-R1's cover-EM over SQuAD-normalised answers.

These are the `metrics="squad"` family shared by evaluation and RL training (one grader, so the two
never drift); ASearcher's own definitions, the default, are in `asearcher_metrics`.
Every function takes a prediction (None counts as no answer) and a list of gold aliases, and
returns the best score over the aliases as a float in [0, 1].
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Literal

F1Mode = Literal["multiset", "set"]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# HotpotQA's evaluation gives F1 = 0 when either side is one of these and the two differ:
# a partial token overlap with "yes"/"no" is not partial credit.
_SPECIAL = frozenset({"yes", "no", "noanswer"})


def normalize_answer(text: str, *, unicode_fold: bool = False) -> str:
    """Normalise an answer the way the official SQuAD v1.1 / HotpotQA scripts do.

    Official steps, in the official order: lower-case, drop ASCII punctuation
    (`string.punctuation`), replace the articles a/an/the by a space, collapse whitespace
    (`str.split()` already treats non-breaking and other Unicode spaces as whitespace).

    Addition (off by default so scores stay comparable with published numbers):
    `unicode_fold=True` first applies NFKD and drops combining marks, so "Zürich" == "Zurich" and
    full-width digits become ASCII.

    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    >>> normalize_answer("1,000")
    '1000'
    """
    if unicode_fold:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.lower()
    text = "".join(c for c in text if c not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(golds: str | Iterable[str]) -> list[str]:
    return [golds] if isinstance(golds, str) else [g for g in golds if g is not None]


def exact_match(pred: str | None, golds: str | Iterable[str], *, unicode_fold: bool = False) -> float:
    """1.0 when the normalised prediction equals a normalised gold alias, else 0.0.

    >>> exact_match("the Beatles", ["Beatles", "The Fab Four"])
    1.0
    """
    if pred is None:
        return 0.0
    p = normalize_answer(pred, unicode_fold=unicode_fold)
    return float(any(p == normalize_answer(g, unicode_fold=unicode_fold) for g in _golds(golds)))


def _f1_one(pred: str, gold: str, mode: F1Mode) -> float:
    if (pred in _SPECIAL or gold in _SPECIAL) and pred != gold:
        return 0.0
    p_tokens, g_tokens = pred.split(), gold.split()
    if mode == "set":
        # Counting over token *sets* (as ASearcher does), so repeating a word earns nothing.
        p_set, g_set = set(p_tokens), set(g_tokens)
        same, n_pred, n_gold = len(p_set & g_set), len(p_set), len(g_set)
    else:
        same = sum((Counter(p_tokens) & Counter(g_tokens)).values())
        n_pred, n_gold = len(p_tokens), len(g_tokens)
    if same == 0:
        return 0.0
    precision, recall = same / n_pred, same / n_gold
    return 2 * precision * recall / (precision + recall)


def f1_score(
    pred: str | None, golds: str | Iterable[str], *, f1_mode: F1Mode = "multiset", unicode_fold: bool = False
) -> float:
    """Token F1 between the normalised prediction and the best gold alias.

    `f1_mode="multiset"` is the SQuAD/HotpotQA definition (token counts matter);
    `f1_mode="set"` counts token sets but keeps SQuAD's normalisation (ASearcher's own F1, which
    normalises differently, is `asearcher_metrics.eval_f1`). yes/no/noanswer mismatches score 0
    (HotpotQA's rule).

    >>> round(f1_score("Barack Obama Jr", ["Barack Obama"]), 4)
    0.8
    """
    if f1_mode not in ("multiset", "set"):
        raise ValueError(f"f1_mode must be 'multiset' or 'set', got {f1_mode!r}")
    if pred is None:
        return 0.0
    p = normalize_answer(pred, unicode_fold=unicode_fold)
    scores = [_f1_one(p, normalize_answer(g, unicode_fold=unicode_fold), f1_mode) for g in _golds(golds)]
    return max(scores, default=0.0)


def cover_exact_match(pred: str | None, golds: str | Iterable[str], *, unicode_fold: bool = False) -> float:
    """1.0 when a normalised gold alias occurs inside the normalised prediction (Search-R1's subEM).

    Like Search-R1 this is a plain substring test on normalised text. A gold alias that normalises
    to "" is ignored: the empty string is inside every prediction and would score everything 1.

    >>> cover_exact_match("It was Paris, France", ["Paris"])
    1.0
    """
    if pred is None:
        return 0.0
    p = normalize_answer(pred, unicode_fold=unicode_fold)
    for g in _golds(golds):
        ng = normalize_answer(g, unicode_fold=unicode_fold)
        if ng and ng in p:
            return 1.0
    return 0.0
