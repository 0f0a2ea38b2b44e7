"""Differential cases: ASearcher's metric definitions beside the SQuAD ones, every value derived by hand.

Definitions read from ASearcher's public code (evaluation/evaluate.py for the paper's EM/F1/CEM,
ASearcher/utils/rewards.py for the training reward); docs/metrics.md states them in words.
Notation in the comments:
  SQ(x): SQuAD normalisation (lower, drop ASCII punctuation -- gluing words --, drop a/an/the, squeeze spaces)
  SP(x): ASearcher's F1 normalisation (ASCII punctuation -> space, squeeze, lower; articles kept), as a token set
  yn(x): "True" -> "yes", "False" -> "no" (exact strings only)
  CJK{x}: the reward's character split for a Chinese gold (characters + whole digit runs, "，。 ,.-" dropped)
Columns of each case:
  em     ASearcher eval EM         SQ(pred) == SQ(gold)                       (= SQuAD EM)
  f1     ASearcher eval F1         set F1 of SP tokens
  cem    ASearcher cover-EM        tokens of SQ(yn(gold)) all among tokens of SQ(yn(pred))
  rf1    ASearcher reward F1       set F1 of SP(yn(.)) tokens, CJK split when the gold is Chinese
  rem    ASearcher reward EM       SQ(yn(pred)) == SQ(yn(gold))
  sf1    SQuAD/HotpotQA F1         multiset F1 of SQ tokens, yes/no/noanswer mismatch = 0
  scov   Search-R1 cover-EM        SQ(gold) is a substring of SQ(pred)
Each value is the best over the gold aliases.
"""

import pytest

from asearcher.reward import asearcher_metrics as asr
from asearcher.reward import qa_metrics as squad
from asearcher.reward.metric_sets import answer_scores, reward_score

# (id, pred, golds, em, f1, cem, rf1, rem, sf1, scov)
CASES = [
    # --- hyphens and other punctuation ---
    # SQ: "coca cola" vs "cocacola"; SP: {coca, cola} vs {coca, cola}
    ("hyphen-split", "Coca Cola", ["Coca-Cola"], 0, 1, 0, 1, 0, 0, 0),
    ("hyphen-both", "Coca-Cola", ["Coca-Cola"], 1, 1, 1, 1, 1, 1, 1),
    # SQ: "jeanpaul sartre" vs "sartre"; SP {jean, paul, sartre} vs {sartre}: P=1/3 R=1 -> 0.5;
    # sf1: [jeanpaul, sartre] vs [sartre]: P=1/2 R=1 -> 2/3
    ("hyphen-name", "Jean-Paul Sartre", ["Sartre"], 0, 0.5, 1, 0.5, 0, 2 / 3, 1),
    # SQ "oneill" vs "o neill"; SP {o, neill} both
    ("apostrophe-glue", "O'Neill", ["O Neill"], 0, 1, 0, 1, 0, 0, 0),
    # SQ "kings college" both; SP {kings, college} vs {king, s, college}: common 1, P=1/2 R=1/3 -> 0.4
    ("apostrophe-possessive", "Kings' College", ["King's College"], 1, 0.4, 1, 0.4, 1, 1, 1),
    # SQ "acdc" both; SP {ac, dc} vs {acdc}
    ("slash", "AC/DC", ["ACDC"], 1, 0, 1, 0, 1, 1, 1),
    # SQ "mercury planet" vs "mercury"; SP {mercury, planet} vs {mercury}: 2/3
    ("parentheses", "Mercury (planet)", ["Mercury"], 0, 2 / 3, 1, 2 / 3, 0, 2 / 3, 1),
    # an en dash is not ASCII punctuation: SQ "1914–1918" vs "19141918"; SP {1914–1918} vs {1914, 1918}
    ("en-dash-kept", "1914–1918", ["1914-1918"], 0, 0, 0, 0, 0, 0, 0),
    ("trailing-period", "Paris.", ["paris"], 1, 1, 1, 1, 1, 1, 1),
    # --- articles ---
    # SQ "beatles" both; SP {the, beatles} vs {beatles}: P=1/2 R=1 -> 2/3
    ("article-pred", "The Beatles", ["Beatles"], 1, 2 / 3, 1, 2 / 3, 1, 1, 1),
    # SQ "cat" both; SP {a, cat} vs {the, cat}: P=R=1/2 -> 0.5
    ("article-both", "a cat", ["the cat"], 1, 0.5, 1, 0.5, 1, 1, 1),
    # "Theatre" keeps its "the"; SP {theatre, royal} vs {the, theatre, royal}: P=1 R=2/3 -> 0.8
    ("article-not-in-word", "Theatre Royal", ["The Theatre Royal"], 1, 0.8, 1, 0.8, 1, 1, 1),
    # --- repeated words ---
    # SQ "new york new york" vs "new york"; SP sets equal; sf1: common 2, P=2/4 R=1 -> 2/3
    ("repeat-pred", "New York New York", ["New York"], 0, 1, 1, 1, 0, 2 / 3, 1),
    # cem: gold tokens [paris, paris] are each in [paris]; sf1: P=1 R=1/2 -> 2/3; substring fails
    ("repeat-gold", "Paris", ["Paris Paris"], 0, 1, 1, 1, 0, 2 / 3, 0),
    # SQ "paris france" vs "france paris"; sets equal; multiset equal; substring fails
    ("word-order", "Paris, France", ["France Paris"], 0, 1, 1, 1, 0, 1, 0),
    ("date-order", "July 4, 1776", ["4 July 1776"], 0, 1, 1, 1, 0, 1, 0),
    # --- numbers: commas and decimals ---
    # SQ "1000" both; SP {1, 000} vs {1000}
    ("comma-number", "1,000", ["1000"], 1, 0, 1, 0, 1, 1, 1),
    # SQ "1000 people" vs "1000"; SP {1, 000, people} vs {1, 000}: P=2/3 R=1 -> 0.8; sf1 P=1/2 -> 2/3
    ("comma-number-extra", "1,000 people", ["1,000"], 0, 0.8, 1, 0.8, 0, 2 / 3, 1),
    # SQ "314" vs "314159"; SP {3, 14} vs {3, 14159}: common 1, P=R=1/2 -> 0.5
    ("decimal-prefix", "3.14", ["3.14159"], 0, 0.5, 0, 0.5, 0, 0, 0),
    # SQuAD glues the decimal point away: SQ "25" == "25"; SP {2, 5} vs {25}
    ("decimal-glued", "2.5", ["25"], 1, 0, 1, 0, 1, 1, 1),
    # SQ "45" vs "45 percent"; SP {45} vs {45, percent}: P=1 R=1/2 -> 2/3
    ("percent", "45%", ["45 percent"], 0, 2 / 3, 0, 2 / 3, 0, 2 / 3, 0),
    # SQ "15 billion" vs "15 billion dollars"; SP {1, 5, billion} vs {1, 5, billion, dollars}: P=1 R=3/4 -> 6/7;
    # sf1 [15, billion] vs [15, billion, dollars]: P=1 R=2/3 -> 0.8
    ("currency", "$1.5 billion", ["1.5 billion dollars"], 0, 6 / 7, 0, 6 / 7, 0, 0.8, 0),
    # --- abbreviations ---
    # SQ "us" both; SP {u, s} vs {us}
    ("abbrev-dots", "U.S.", ["US"], 1, 0, 1, 0, 1, 1, 1),
    # SQ "us army" vs "united states army"; SP {u, s, army} vs {united, states, army}: 1/3;
    # sf1 [us, army] vs [united, states, army]: P=1/2 R=1/3 -> 0.4
    ("abbrev-expanded", "U.S. Army", ["United States Army"], 0, 1 / 3, 0, 1 / 3, 0, 0.4, 0),
    ("abbrev-title", "Dr. Who", ["Dr Who"], 1, 1, 1, 1, 1, 1, 1),
    # --- yes / no / true / false ---
    # eval EM and F1 do not map; CEM and the reward map yn("True") = "yes"; HotpotQA: "yes" vs "true" -> 0
    ("yes-vs-True", "yes", ["True"], 0, 0, 1, 1, 1, 0, 0),
    ("no-vs-False", "no", ["False"], 0, 0, 1, 1, 1, 0, 0),
    ("True-vs-yes", "True", ["yes"], 0, 0, 1, 1, 1, 0, 0),
    # lower-case "true" is not mapped, the gold "True" is: eval EM/F1 match, CEM and reward do not
    ("true-vs-True", "true", ["True"], 1, 1, 0, 0, 0, 1, 1),
    # SP {yes, it, is} vs {yes}: P=1/3 R=1 -> 0.5; HotpotQA: special gold, different -> 0
    ("yes-extra-words", "yes, it is", ["yes"], 0, 0.5, 1, 0.5, 0, 0, 1),
    ("yes-vs-no", "no", ["yes"], 0, 0, 0, 0, 0, 0, 0),
    # SP {no} vs {no, way}: 2/3; HotpotQA: "no" is special and differs -> 0
    ("no-partial", "no", ["no way"], 0, 2 / 3, 0, 2 / 3, 0, 0, 0),
    # "no" is inside "not" as a substring (Search-R1), not as a token (ASearcher)
    ("no-inside-not", "not", ["no"], 0, 0, 0, 0, 0, 0, 1),
    ("yes-several-golds", "yes", ["True", "yes"], 1, 1, 1, 1, 1, 1, 1),
    # --- substring vs token cover ---
    ("art-in-smart", "smart", ["art"], 0, 0, 0, 0, 0, 0, 1),
    # --- Chinese (CJK) ---
    # SP {北京} vs {北京市}: different tokens; reward CJK{北, 京} vs CJK{北, 京, 市}: P=1 R=2/3 -> 0.8
    ("cjk-shorter", "北京", ["北京市"], 0, 0, 0, 0.8, 0, 0, 0),
    # CJK{北, 京, 市} vs CJK{北, 京}: P=2/3 R=1 -> 0.8; "北京" is a substring of "北京市"
    ("cjk-longer", "北京市", ["北京"], 0, 0, 0, 0.8, 0, 0, 1),
    # character sets ignore order
    ("cjk-anagram", "京北", ["北京"], 0, 0, 0, 1, 0, 0, 0),
    # CJK{年, 1990} both
    ("cjk-year-same", "1990年", ["1990年"], 1, 1, 1, 1, 1, 1, 1),
    # CJK{年, 1991} vs CJK{年, 1990}: digit runs are whole tokens: P=R=1/2 -> 0.5
    ("cjk-year-differs", "1991年", ["1990年"], 0, 0, 0, 0.5, 0, 0, 0),
    # "，" is dropped: CJK{中, 华, 人, 民, 共, 和, 国, 北, 京} vs {北, 京}: P=2/9 R=1 -> 4/11
    ("cjk-comma", "中华人民共和国，北京", ["北京"], 0, 0, 0, 4 / 11, 0, 0, 1),
    # "。" is dropped too (not by SQuAD: "北京。" != "北京")
    ("cjk-full-stop", "北京。", ["北京"], 0, 0, 0, 1, 0, 0, 1),
    # "、" is not dropped: CJK{张, 三, 、, 李, 四} vs {张, 三}: P=2/5 R=1 -> 4/7
    ("cjk-enumeration-mark", "张三、李四", ["张三"], 0, 0, 0, 4 / 7, 0, 0, 1),
    # Latin letters of a Chinese gold are split too: CJK{i,p,h,o,n,e,15} vs {i,p,h,o,n,e,手,机,15}:
    # P=1 R=7/9 -> 0.875; SP {iphone, 15} vs {iphone, 15手机}: 0.5
    ("cjk-mixed-gold", "iPhone 15", ["iPhone 15手机"], 0, 0.5, 0, 0.875, 0, 0.5, 0),
    # CJK{b,e,i,j,n,g} vs {北, 京, b,e,i,j,n,g}: P=1 R=6/8 -> 6/7; SP {beijing} vs {北京, beijing}: 2/3
    ("cjk-gold-latin-pred", "Beijing", ["北京 Beijing"], 0, 2 / 3, 0, 6 / 7, 0, 2 / 3, 0),
    # the split is decided by the gold: a Latin gold keeps word tokens; SP {巴黎, paris} vs {paris}: 2/3
    ("cjk-pred-latin-gold", "巴黎 Paris", ["Paris"], 0, 2 / 3, 1, 2 / 3, 0, 2 / 3, 1),
    # --- accents (no folding anywhere) ---
    ("accent-missing", "Zurich", ["Zürich"], 0, 0, 0, 0, 0, 0, 0),
    ("accent-case", "Zürich", ["ZÜRICH"], 1, 1, 1, 1, 1, 1, 1),
    # SP {café, de, flore} vs {cafe, de, flore}: P=R=2/3 -> 2/3
    ("accent-partial", "Café de Flore", ["Cafe de Flore"], 0, 2 / 3, 0, 2 / 3, 0, 2 / 3, 0),
    # --- several golds ---
    ("golds-second-exact", "NYC", ["New York City", "NYC"], 1, 1, 1, 1, 1, 1, 1),
    # vs "new york city": P=1 R=2/3 -> 0.8; vs "nyc": 0
    ("golds-best-partial", "New York", ["NYC", "New York City"], 0, 0.8, 0, 0.8, 0, 0.8, 0),
    # SP {the, danube, river} vs {danube}: P=1/3 -> 0.5; sf1 [danube, river] vs [danube]: 2/3
    ("golds-article-alias", "the Danube river", ["Danube", "Donau"], 0, 0.5, 1, 0.5, 0, 2 / 3, 1),
    ("golds-none", "x", [], 0, 0, 0, 0, 0, 0, 0),
    # --- whitespace ---
    ("whitespace", "  New\tYork\n", ["new york"], 1, 1, 1, 1, 1, 1, 1),
    # --- empty predictions ---
    ("empty-pred", "", ["Paris"], 0, 0, 0, 0, 0, 0, 0),
    ("no-answer", None, ["Paris"], 0, 0, 0, 0, 0, 0, 0),
    # a gold that normalises to nothing: SQ "" == SQ "" and [""] covers [""]; F1 needs tokens on both
    # sides; Search-R1's cover ignores an empty gold (it would be inside everything)
    ("empty-pred-empty-gold", "", ["The"], 1, 0, 1, 0, 1, 0, 0),
    ("pred-vs-empty-gold", "Paris", ["The"], 0, 0, 0, 0, 0, 0, 0),
]


@pytest.mark.parametrize(
    ("pred", "golds", "em", "f1", "cem", "rf1", "rem", "sf1", "scov"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_differential(pred, golds, em, f1, cem, rf1, rem, sf1, scov):
    got = {
        "em": asr.exact_match(pred, golds),
        "f1": asr.eval_f1(pred, golds),
        "cem": asr.cover_exact_match(pred, golds),
        "rf1": asr.reward_f1(pred, golds),
        "rem": asr.exact_match(pred, golds, yes_no=True),
        "sf1": squad.f1_score(pred, golds),
        "scov": squad.cover_exact_match(pred, golds),
    }
    want = {"em": em, "f1": f1, "cem": cem, "rf1": rf1, "rem": rem, "sf1": sf1, "scov": scov}
    assert got == pytest.approx(want, abs=1e-12)
    assert squad.exact_match(pred, golds) == em  # EM is the one metric both families share


def test_there_are_at_least_fifty_cases_with_distinct_ids():
    assert len(CASES) >= 50 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_selection_layer_routes_to_the_right_definitions(case):
    _, pred, golds, em, f1, cem, rf1, rem, sf1, scov = case
    assert answer_scores(pred, golds) == pytest.approx({"em": em, "f1": f1, "cover_em": cem})
    assert answer_scores(pred, golds, "squad") == pytest.approx({"em": em, "f1": sf1, "cover_em": scov})
    assert reward_score(pred, golds, "f1") == pytest.approx(rf1)
    assert reward_score(pred, golds, "em") == rem
    with pytest.raises(ValueError):
        answer_scores(pred, golds, "hotpotqa")
    with pytest.raises(ValueError):
        reward_score(pred, golds, "bleu")


@pytest.mark.parametrize(
    ("raw", "spaced"),
    [
        ("The Coca-Cola Co.", "the coca cola co"),
        ("U.S.A.", "u s a"),
        ("  New\tYork\n", "new york"),
        ("«Zürich»", "«zürich»"),  # only ASCII punctuation becomes a space
        ("1,000.5", "1 000 5"),
        ("", ""),
    ],
)
def test_spaced_normalize(raw, spaced):
    assert asr.spaced_normalize(raw) == spaced


@pytest.mark.parametrize(
    ("text", "cjk"),
    [
        ("北京", True),  # U+5317 U+4EAC: Unified Ideographs
        ("\u3400", True),  # Extension A
        ("\uf900", True),  # Compatibility Ideographs
        ("\U00020000", False),  # Extension B: ASearcher's surrogate-pair test never fires in Python 3
        ("ひらがな", False),  # Japanese kana
        ("한국어", False),  # Hangul
        ("Paris", False),
    ],
)
def test_has_cjk_uses_asearchers_ranges(text, cjk):
    assert asr.has_cjk(text) is cjk


def test_cjk_tokens():
    assert asr.cjk_tokens("第3届") == {"第", "届", "3"}
    assert asr.cjk_tokens("12 34") == {"12", "34"}  # a space ends a digit run
    # full-width digits are str.isdigit() (a run) but not in the dropped set (characters too)
    assert asr.cjk_tokens("１２年") == {"１２", "１", "２", "年"}
    assert asr.cjk_tokens("") == set()


def test_yes_no_mapping_is_exact():
    assert [asr.yes_no_mapping(s) for s in ("True", "False", "true", "TRUE", " True", "yes")] == [
        "yes", "no", "true", "TRUE", " True", "yes"]
