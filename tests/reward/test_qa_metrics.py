"""Hand-computed expectations for the QA metrics (SQuAD/HotpotQA normalisation, F1 variants, cover-EM)."""

import pytest

from asearcher.reward.qa_metrics import cover_exact_match, exact_match, f1_score, normalize_answer


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The Beatles", "beatles"),
        ("an apple a day", "apple day"),
        ("Theatre", "theatre"),  # "the" inside a word is not an article
        ("U.S.A.", "usa"),
        ("  New\tYork \n City ", "new york city"),
        ("1,000", "1000"),
        ("Zürich", "zürich"),  # official: accents kept
        ("New\u00a0York", "new york"),  # str.split() treats NBSP as whitespace
        ("«Zürich»", "«zürich»"),  # only ASCII punctuation is removed officially
        ("", ""),
    ],
)
def test_normalize_answer_matches_official_behaviour(raw, norm):
    assert normalize_answer(raw) == norm


def test_unicode_fold_is_an_opt_in_addition():
    assert normalize_answer("Zürich") != normalize_answer("Zurich")
    assert normalize_answer("Zürich", unicode_fold=True) == "zurich"
    assert normalize_answer("１２３", unicode_fold=True) == "123"  # full-width digits under NFKD
    assert exact_match("Zurich", ["Zürich"], unicode_fold=True) == 1.0
    assert exact_match("Zurich", ["Zürich"]) == 0.0


def test_exact_match_cases():
    assert exact_match("the  BEATLES!", ["Beatles"]) == 1.0
    assert exact_match("1000", ["1,000"]) == 1.0
    assert exact_match("1 000", ["1,000"]) == 0.0  # "1 000" keeps its space: two tokens
    assert exact_match("Fab Four", ["The Beatles", "the Fab Four"]) == 1.0
    assert exact_match("", ["Paris"]) == 0.0
    assert exact_match(None, ["Paris"]) == 0.0
    assert exact_match("Paris", "paris") == 1.0  # a single string gold is accepted
    assert exact_match("Paris", []) == 0.0


def test_f1_multiset_hand_computed():
    # pred tokens [barack, obama, jr], gold [barack, obama]: P=2/3, R=1, F1=0.8
    assert f1_score("Barack Obama Jr.", ["Barack Obama"]) == pytest.approx(0.8)
    # pred [paris, paris], gold [paris]: common=1, P=1/2, R=1 -> 2/3
    assert f1_score("Paris Paris", ["Paris"]) == pytest.approx(2 / 3)
    # max over aliases: "new york" vs "new york city" = P1 R2/3 -> 0.8; vs "nyc" = 0
    assert f1_score("New York", ["NYC", "New York City"]) == pytest.approx(0.8)
    assert f1_score("", ["Paris"]) == 0.0
    assert f1_score(None, ["Paris"]) == 0.0
    assert f1_score("the", ["a"]) == 0.0  # both normalise to "": no tokens in common


def test_f1_set_mode_ignores_repeats():
    # set: {paris} vs {paris}: 1.0 (the multiset F1 is 2/3)
    assert f1_score("Paris Paris", ["Paris"], f1_mode="set") == pytest.approx(1.0)
    # {a,b,c} (after article removal: "x y z") vs {x, y}: P=2/3 R=1 -> 0.8
    assert f1_score("x y z z", ["x y"], f1_mode="set") == pytest.approx(0.8)
    with pytest.raises(ValueError):
        f1_score("x", ["x"], f1_mode="bag")  # type: ignore[arg-type]


def test_f1_hotpotqa_yes_no_rule():
    assert f1_score("yes", ["no"]) == 0.0
    assert f1_score("yes it is", ["yes"]) == 0.0  # gold is special and differs: no partial credit
    assert f1_score("Yes.", ["yes"]) == 1.0
    assert f1_score("no", ["no way"]) == 0.0


def test_cover_exact_match():
    assert cover_exact_match("It was Paris, France.", ["Paris"]) == 1.0
    assert cover_exact_match("The answer is 1,000 people", ["1000"]) == 1.0
    assert cover_exact_match("Paris", ["Paris, France"]) == 0.0  # gold must be inside the prediction
    assert cover_exact_match("London", ["Paris", "london"]) == 1.0
    assert cover_exact_match("anything", ["The"]) == 0.0  # an empty normalised gold never matches
    assert cover_exact_match(None, ["Paris"]) == 0.0
    assert cover_exact_match("", ["Paris"]) == 0.0
