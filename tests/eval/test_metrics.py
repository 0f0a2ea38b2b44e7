"""Pass@k / expected-max estimators against hand-computed values, and the per-dataset summary."""

import itertools

import pytest

from asearcher.config import load_config
from asearcher.errors import UserError
from asearcher.eval.config import EvalConfig
from asearcher.eval.metrics import expected_max_at_k, pass_at_k, score_answer, summarize, summarize_dataset


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (4, 1, 1, 0.25),
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (4, 2, 2, 5 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (4, 3, 2, 1.0),  # fewer than k wrong samples: always a hit
        (10, 0, 5, 0.0),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_expected_max_matches_brute_force_and_pass_at_k():
    scores = [0.2, 0.9, 0.0, 0.5, 0.5]
    for k in range(1, 6):
        subsets = list(itertools.combinations(scores, k))
        brute = sum(max(s) for s in subsets) / len(subsets)
        assert expected_max_at_k(scores, k) == pytest.approx(brute)
    binary = [1.0, 0.0, 1.0, 0.0, 0.0]
    assert expected_max_at_k(binary, 3) == pytest.approx(pass_at_k(5, 2, 3))


def _rec(qid, sample, answer, golds, em, turns=1, tools=0, toks=10, ds="d"):
    return {"qid": qid, "sample": sample, "dataset": ds, "answer": answer, "golds": golds,
            "scores": {"em": em, "f1": em, "cover_em": em},
            "stats": {"turns": turns, "tool_calls": tools, "gen_tokens": toks, "time_s": 0.1,
                      "stop_reason": "answered" if answer else "turn_limit"}}


def test_summary_avg_pass_and_majority():
    recs = [
        _rec("q1", 0, "Paris", ["Paris"], 1.0, turns=3, tools=2),
        _rec("q1", 1, "Lyon", ["Paris"], 0.0, turns=5, tools=4),
        _rec("q1", 2, "paris", ["Paris"], 1.0, turns=1, tools=0),
        _rec("q2", 0, "Rome", ["Milan"], 0.0),
        _rec("q2", 1, None, ["Milan"], 0.0),
        _rec("q2", 2, "Milan", ["Milan"], 1.0),
        _rec("x", 0, "a", ["a"], 1.0, ds="other"),
    ]
    s = summarize(recs, k=3)
    em = s["d"]["metrics"]["em"]
    assert em["avg@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert em["pass@3"] == pytest.approx(1.0)
    # q1 votes paris (2 of 3); q2 is a Rome/Milan tie, broken by the first seen: Rome (wrong)
    assert em["maj@3"] == pytest.approx(0.5)
    assert s["d"]["questions"] == 2 and s["d"]["samples"] == 6
    assert s["d"]["answered"] == pytest.approx(5 / 6)
    assert s["d"]["turns"]["max"] == 5 and s["d"]["tool_calls"]["mean"] == pytest.approx(1.0)
    assert s["d"]["stop_reasons"] == {"answered": 5, "turn_limit": 1}
    assert "judge" not in s["d"]["metrics"]
    assert s["other"]["metrics"]["em"]["avg@3"] == 1.0  # one sample: k capped at what exists


def test_score_answer_defaults_to_asearchers_definitions():
    # ASearcher: SP {coca, cola} both -> F1 1; SQuAD glues "cocacola" -> F1 0
    assert score_answer("Coca Cola", ["Coca-Cola"]) == {"em": 0.0, "f1": 1.0, "cover_em": 0.0}
    assert score_answer("Coca Cola", ["Coca-Cola"], metrics="squad") == {"em": 0.0, "f1": 0.0, "cover_em": 0.0}
    # cover-EM: whole tokens (ASearcher) vs substring (Search-R1, with metrics=squad)
    assert score_answer("smart", ["art"])["cover_em"] == 0.0
    assert score_answer("smart", ["art"], metrics="squad")["cover_em"] == 1.0
    # f1_mode applies to the squad family: [paris, paris] vs [paris] multiset 2/3, set 1
    assert score_answer("Paris Paris", ["Paris"], "multiset", "squad")["f1"] == pytest.approx(2 / 3)
    assert score_answer("Paris Paris", ["Paris"], "set", "squad")["f1"] == 1.0


def _judged(qid, verdict, score):
    rec = _rec(qid, 0, "x", ["y"], 0.0)
    rec["scores"]["judge"] = score
    rec["judge"] = {"verdict": verdict, "raw": "..."}
    return rec


def test_failed_and_invalid_judgements_count_as_incorrect_and_are_counted():
    recs = [_judged("q1", "correct", 1.0), _judged("q2", "incorrect", 0.0), _judged("q3", None, 0.0),
            _judged("q4", "invalid", None)]  # q4: written before invalid verdicts scored 0
    s = summarize(recs, k=1)["d"]
    assert s["metrics"]["judge"]["avg@1"] == pytest.approx(1 / 4)  # not 1/3: nothing leaves the denominator
    assert s["judge_verdicts"] == {"correct": 1, "incorrect": 1, "invalid": 1, "failed": 1}
    assert "judge_verdicts" not in summarize([_rec("q", 0, "a", ["a"], 1.0)], k=1)["d"]


def test_majority_vote_uses_the_chosen_metrics():
    recs = [_rec("q", i, "Coca Cola", ["Coca-Cola"], 0.0) for i in range(2)]
    assert summarize(recs, k=2)["d"]["metrics"]["f1"]["maj@2"] == 1.0
    assert summarize(recs, k=2, metrics="squad")["d"]["metrics"]["f1"]["maj@2"] == 0.0


def test_metrics_choice_is_a_checked_eval_config_field():
    assert EvalConfig().metrics == "asearcher"
    assert load_config(EvalConfig, overrides=["metrics=squad"]).metrics == "squad"
    with pytest.raises(UserError, match="metrics"):
        load_config(EvalConfig, overrides=["metrics=hotpotqa"])
def test_majority_tie_goes_to_the_lowest_sample_not_the_first_finished():
    # Four distinct answers written in completion order 3, 2, 1, 0: the tie goes to sample 0's.
    recs = [{"qid": "q", "sample": s, "dataset": "d", "answer": a, "golds": ["Paris"],
             "scores": dict.fromkeys(("em", "f1", "cover_em"), float(a == "Paris")),
             "stats": {"turns": 1, "tool_calls": 0, "gen_tokens": 1, "time_s": 0.0, "stop_reason": "answered"}}
            for s, a in ((3, "Paris"), (2, "Lyon"), (1, "Nice"), (0, "Lille"))]
    assert summarize_dataset(recs, 4)["metrics"]["em"]["maj@4"] == 0.0
