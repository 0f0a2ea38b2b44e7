"""The report's lead (rl/run/report_summary.py) on a hand-made run folder, with hand-computed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asearcher.rl.run.report import write_report
from asearcher.rl.run.report_summary import paired_diff, wilson


def _record(qid: str, em: float, actions: list[str], answer: str) -> dict:
    turns = [{"action": a, "argument": f"{a} arg", "output": ""} for a in actions]
    return {"qid": qid, "sample": 0, "question": f"question {qid}", "golds": ["gold"], "answer": answer,
            "scores": {"em": em, "f1": em}, "stats": {"turns": len(actions), "tool_calls": len(actions) - 1},
            "trajectory": {"turns": turns}}


def _write(run: Path, name: str, records: list[dict]) -> None:
    (run / f"eval_{name}").mkdir(parents=True)
    (run / f"eval_{name}" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_wilson_and_paired_difference_by_hand():
    # p = 1/2, n = 4: centre (0.5 + z^2/8) / (1 + z^2/4) = 0.5; half = z sqrt(1/16 + z^2/64) / (1 + z^2/4)
    lo, hi = wilson(2, 4)
    assert lo == pytest.approx(0.1500, abs=1e-4) and hi == pytest.approx(0.8500, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    # differences 1, 1, 0, -1: mean 0.25, sample sd sqrt(2.75 / 3) = 0.9574, half = 1.96 * 0.9574 / 2 = 0.9382
    mean, half, n = paired_diff({"a": 0, "b": 0, "c": 1, "d": 1}, {"a": 1, "b": 1, "c": 1, "d": 0})
    assert (mean, n) == (0.25, 4) and half == pytest.approx(0.9383, abs=1e-3)


def test_report_leads_with_accuracy_steps_and_an_example(tmp_path):
    run = tmp_path
    _write(run, "shipped", [_record(q, 0, ["search", "answer"], "x") for q in "abcd"])
    _write(run, "before", [_record("a", 0, ["search", "answer"], "x"), _record("b", 0, ["search", "answer"], "x"),
                           _record("c", 1, ["search", "answer"], "gold"), _record("d", 1, ["search", "answer"], "gold")])
    _write(run, "after", [_record("a", 1, ["search", "access", "answer"], "gold"),
                          _record("b", 1, ["search", "access", "answer"], "gold"),
                          _record("c", 1, ["search", "answer"], "gold"), _record("d", 0, ["search", "answer"], "y")])
    rows = [{"step": 1, "gen/episodes": 16, "batch/trajectories": 8, "drops/filtered_all_equal": 8, "data/skipped": 0,
             "reward/mean": 0.5, "traj/turns": 2.0, "traj/tool_calls": 1.0},
            {"step": 2, "gen/episodes": 8, "batch/trajectories": 8, "data/skipped": 3, "reward/mean": 0.6,
             "traj/turns": 2.5, "traj/tool_calls": 1.5}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evals = {n: {"facts_test": {"questions": 4, "metrics": {}}} for n in ("shipped", "before", "after")}
    text = write_report(run, evals).read_text()
    assert text.index("## Held-out accuracy") < text.index("## Example") < text.index("## Episodes per step")
    assert "| after SFT (RL step 0) | 50.0 | 15.0-85.0 | 4 | 1.00 | 2.00 |" in text
    assert "| after SFT + RL | 75.0 |" in text and "| 1.50 | 2.50 |" in text
    assert "**+25.0 EM points**, 95% CI -68.8 to +118.8" in text
    # The example is the first question RL turned from wrong to right ("a"), shown before and after.
    example = text[text.index("## Example"):text.index("## Episodes per step")]
    assert "question a" in example and "access: access arg" in example
    assert "| 1 | 16 | 8 | 8 | 0 | 0.50 | 2.00 | 1.00 |" in text
    assert "| 2 | 8 | 8 | 0 | 3 | 0.60 | 2.50 | 1.50 |" in text
    assert "24 episodes generated, 16 trained, 8 dropped as all-equal" in text
