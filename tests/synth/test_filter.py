"""Difficulty filtering over eval-runner rollouts (`asearcher synth filter`)."""

from __future__ import annotations

import json

import pytest
from synth_fakes import write_jsonl

from asearcher.cli import main
from asearcher.errors import UserError
from asearcher.synth.config import FilterConfig
from asearcher.synth.filter import filter_questions


def rollout(qid: str, sample: int, em: float, searches: int, **extra) -> dict:
    """One line as `asearcher eval` writes it (eval/runner.make_record), trimmed to what is read."""
    return {
        "qid": qid,
        "sample": sample,
        "answer": "x",
        "scores": {"em": em, "f1": em, "cover_em": em, **extra},
        "stats": {"searches": searches, "tool_calls": searches, "turns": searches + 1},
    }


QUESTIONS = [
    {"id": q, "question": f"question {q}?", "answer": "x", "source": "asearcher-synth"}
    for q in ("keep", "never", "easy", "shallow", "missing")
]
ROLLOUTS = [
    rollout("keep", 0, 1.0, 3),
    rollout("keep", 1, 0.0, 5),
    rollout("keep", 2, 0.0, 2),
    rollout("keep", 3, 0.0, 1),
    rollout("never", 0, 0.0, 4),
    rollout("never", 1, 0.0, 4),
    rollout("easy", 0, 1.0, 3),
    rollout("easy", 1, 1.0, 4),
    rollout("easy", 2, 0.0, 3),
    rollout("easy", 3, 0.0, 3),
    rollout("shallow", 0, 1.0, 1),
    rollout("shallow", 1, 0.0, 3),
    rollout("shallow", 2, 0.0, 3),
    rollout("stranger", 0, 1.0, 3),
]


def test_reasons_per_the_paper_recipe(tmp_path):
    q = write_jsonl(tmp_path / "q.jsonl", QUESTIONS)
    r = write_jsonl(tmp_path / "r.jsonl", ROLLOUTS)
    report = filter_questions(q, r, tmp_path / "kept.jsonl")
    assert report["kept"] == 1 and report["unmatched_rollout_ids"] == 1
    assert report["dropped"] == {"few_searches": 1, "never_solved": 1, "no_rollouts": 1, "too_easy": 1}
    assert [json.loads(x) for x in (tmp_path / "kept.jsonl").read_text().splitlines()] == [QUESTIONS[0]]
    dropped = {d["id"]: d for d in map(json.loads, (tmp_path / "kept.dropped.jsonl").read_text().splitlines())}
    assert dropped["easy"]["reason"] == "too_easy" and dropped["easy"]["solve_rate"] == 0.5  # >= 50% drops
    assert dropped["shallow"]["min_searches_solved"] == 1 and dropped["never"]["k"] == 2
    assert dropped["missing"]["record"] == QUESTIONS[4]


def test_thresholds_are_configurable(tmp_path):
    q = write_jsonl(tmp_path / "q.jsonl", QUESTIONS[:4])
    r = write_jsonl(tmp_path / "r.jsonl", ROLLOUTS)
    cfg = FilterConfig(max_solve_rate=0.75, max_trivial_searches=-1, drop_unsolved=False)
    report = filter_questions(q, r, tmp_path / "kept.jsonl", config=cfg)
    assert report["kept"] == 4 and report["dropped"] == {}


def test_trajectory_search_count_is_used_when_stats_are_absent(tmp_path):
    q = write_jsonl(tmp_path / "q.jsonl", QUESTIONS[:1])
    turns = [{"index": 0, "output": "", "action": "search"}, {"index": 1, "output": "", "action": "answer"}]
    recs = [
        {
            "qid": "keep",
            "sample": 0,
            "scores": {"em": 1.0},
            "trajectory": {"qid": "keep", "question": "?", "turns": turns},
        },
        rollout("keep", 1, 0.0, 3),
        rollout("keep", 2, 0.0, 3),
    ]
    r = write_jsonl(tmp_path / "r.jsonl", recs)
    assert filter_questions(q, r, tmp_path / "k.jsonl")["dropped"] == {"few_searches": 1}


def test_missing_metric_names_file_line_and_field(tmp_path):
    q = write_jsonl(tmp_path / "q.jsonl", QUESTIONS[:1])
    r = write_jsonl(tmp_path / "r.jsonl", [rollout("keep", 0, 1.0, 3)])
    with pytest.raises(UserError, match=r"r.jsonl:1: field scores.judge is missing.*--judge"):
        filter_questions(q, r, tmp_path / "k.jsonl", config=FilterConfig(metric="judge"))


def test_cli_filter(tmp_path, capsys):
    q = write_jsonl(tmp_path / "q.jsonl", QUESTIONS)
    r = write_jsonl(tmp_path / "r.jsonl", ROLLOUTS)
    assert main(["synth", "filter", "--questions", str(q), "--rollouts", str(r), "max_solve_rate=0.75"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kept"] == 2 and "too_easy" not in report["dropped"]
    assert (tmp_path / "q.filtered.jsonl").is_file() and (tmp_path / "q.filtered.dropped.jsonl").is_file()
    assert main(["synth", "filter", "--questions", str(q), "--rollouts", str(r), "bogus=1"]) == 2
