"""ASearcher's answer-matching definitions, kept beside the SQuAD ones in `qa_metrics`.

ASearcher (inclusionAI/ASearcher) grades with two slightly different families of functions, and
users compare against both, so both are reproduced here (our code, their definitions):

- Its **evaluation** script, which produced the paper's tables:
  EM on SQuAD-normalised text (`qa_metrics.normalize_answer`); F1 over token *sets* of
  `spaced_normalize` text (ASCII punctuation becomes a space, articles are kept, no yes/no rule);
  cover-EM ("CEM"): every SQuAD-normalised gold token occurs among the predicted tokens, after
  mapping the exact strings "True"/"False" to "yes"/"no".
- Its **training reward**: the same set F1, but with the True/False mapping on both sides and, when
  the gold contains Chinese characters, a character-level split (runs of digits stay whole); EM with
  the True/False mapping.

Every function takes a prediction (None = no answer, scores 0) and one gold or a list of aliases,
and returns the best score over the aliases, a float in [0, 1]. The one place we part from the
evaluation script: it grades a missing answer as the empty string, so a gold that normalises to
nothing ("The", "-") would match it; we score a missing answer 0 everywhere.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from itertools import groupby

from asearcher.reward.qa_metrics import normalize_answer

_TO_SPACE = str.maketrans({c: " " for c in string.punctuation})
_SPACES = re.compile(r"\s+")
# Chinese-character ranges ASearcher tests: CJK Unified Ideographs, Extension A, Compatibility
# Ideographs. Its code also names Extensions B-F but tests for surrogate pairs, which never occur
# in Python 3 strings, so those never count as Chinese there; we follow what it does.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF))
# Characters dropped from the character-level token set (digits come back as whole runs).
_CJK_DROPPED = frozenset("0123456789，。 ,.-")


def yes_no_mapping(text: str) -> str:
    """"True" -> "yes" and "False" -> "no"; anything else (even "true" or " True") is unchanged.

    >>> yes_no_mapping("True"), yes_no_mapping("true")
    ('yes', 'true')
    """
    return {"True": "yes", "False": "no"}.get(text, text)


def spaced_normalize(text: str) -> str:
    """ASearcher's F1 normalisation: ASCII punctuation -> space, whitespace runs -> one space, strip, lower.

    Unlike SQuAD's, punctuation splits words instead of gluing them, and articles stay.

    >>> spaced_normalize("The Coca-Cola Co.")
    'the coca cola co'
    """
    return _SPACES.sub(" ", text.translate(_TO_SPACE)).strip().lower()


def has_cjk(text: str) -> bool:
    """True when `text` holds a Chinese character (the ranges ASearcher's reward tests)."""
    return any(lo <= ord(c) <= hi for c in text for lo, hi in _CJK_RANGES)


def cjk_tokens(text: str) -> set[str]:
    """Character-level tokens of (already normalised) Chinese text: every character except ASCII
    digits, spaces and the marks in `_CJK_DROPPED`, plus each maximal run of digits as one token.

    >>> sorted(cjk_tokens("1990年 第3届"))
    ['1990', '3', '届', '年', '第']
    """
    runs = {"".join(group) for is_digit, group in groupby(text, str.isdigit) if is_digit}
    return {c for c in text if c not in _CJK_DROPPED} | runs


def _golds(golds: str | Iterable[str]) -> list[str]:
    return [golds] if isinstance(golds, str) else [g for g in golds if g is not None]


def _best(pred: str | None, golds: str | Iterable[str], one: Callable[[str, str], float]) -> float:
    if pred is None:
        return 0.0
    return max((one(pred, g) for g in _golds(golds)), default=0.0)


def set_f1(pred_tokens: set[str], gold_tokens: set[str]) -> float:
    """F1 of two token sets; 0 when either is empty.

    >>> round(set_f1({"a", "b", "c"}, {"a", "b"}), 4)
    0.8
    """
    common = len(pred_tokens & gold_tokens)
    if not pred_tokens or not gold_tokens or common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _eval_f1_one(pred: str, gold: str) -> float:
    return set_f1(set(spaced_normalize(pred).split()), set(spaced_normalize(gold).split()))


def _reward_f1_one(pred: str, gold: str) -> float:
    p, g = spaced_normalize(yes_no_mapping(pred)), spaced_normalize(yes_no_mapping(gold))
    if has_cjk(g):  # decided by the gold alone, as ASearcher does
        return set_f1(cjk_tokens(p), cjk_tokens(g))
    return set_f1(set(p.split()), set(g.split()))


def eval_f1(pred: str | None, golds: str | Iterable[str]) -> float:
    """F1 of ASearcher's evaluation script (the paper's F1 column).

    >>> eval_f1("Coca Cola", ["Coca-Cola"])
    1.0
    """
    return _best(pred, golds, _eval_f1_one)


def reward_f1(pred: str | None, golds: str | Iterable[str]) -> float:
    """F1 of ASearcher's training reward: `eval_f1` plus True/False -> yes/no and the Chinese split.

    >>> reward_f1("yes", ["True"]), eval_f1("yes", ["True"])
    (1.0, 0.0)
    """
    return _best(pred, golds, _reward_f1_one)


def exact_match(pred: str | None, golds: str | Iterable[str], *, yes_no: bool = False) -> float:
    """EM on SQuAD-normalised text; `yes_no=True` (the training reward's EM) maps True/False first.

    >>> exact_match("the Beatles", "Beatles")
    1.0
    """
    mapped: Callable[[str], str] = yes_no_mapping if yes_no else str
    return _best(pred, golds, lambda p, g: float(normalize_answer(mapped(p)) == normalize_answer(mapped(g))))


def _cover_one(pred: str, gold: str) -> float:
    # split(" ") rather than split(): an empty string gives [""], which is what ASearcher compares.
    pred_tokens = normalize_answer(yes_no_mapping(pred)).split(" ")
    return float(all(t in pred_tokens for t in normalize_answer(yes_no_mapping(gold)).split(" ")))


def cover_exact_match(pred: str | None, golds: str | Iterable[str]) -> float:
    """ASearcher's cover-EM (CEM): every gold token is among the predicted tokens, in any order.

    Tokens are whole words, so gold "art" does not match "smart" (Search-R1's substring test does).

    >>> cover_exact_match("it was Paris, France", ["France Paris"]), cover_exact_match("smart", ["art"])
    (1.0, 0.0)
    """
    return _best(pred, golds, _cover_one)
