"""The runner: scores, resumability after cancellation or SIGKILL, torn last lines."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asearcher.eval.metrics import summarize
from asearcher.eval.results import ResultsFile, read_results
from asearcher.eval.runner import RunOptions, arun_eval

from eval_fakes import FIX, make_factory


def _comparable(summary):
    """A summary without wall-clock timings (which differ between runs)."""
    return {ds: {k: v for k, v in s.items() if k != "time_s"} for ds, s in summary.items()}


def _keys(path: Path):
    recs, _ = read_results(path)
    return [(r["qid"], r["sample"]) for r in recs]


async def test_uninterrupted_run_scores(items, tmp_path):
    out = tmp_path / "results.jsonl"
    recs = await arun_eval(items, make_factory(), out, RunOptions(k=2, concurrency=3, progress=False))
    assert len(recs) == 12 and len(set(_keys(out))) == 12
    by = {(r["qid"], r["sample"]): r for r in recs}
    assert by[("test_0", 0)]["scores"] == {"em": 1.0, "f1": 1.0, "cover_em": 1.0}
    assert by[("test_1", 1)]["scores"]["em"] == 0.0  # Sydney vs Canberra
    assert by[("test_2", 0)]["scores"]["f1"] == pytest.approx(2 / 3)  # "six sides" vs "six"
    assert by[("a1", 0)]["answer"] == "the Danube" and by[("a1", 0)]["scores"]["em"] == 1.0
    assert by[("a1", 0)]["trajectory"]["metadata"]["sample"] == 0
    assert by[("a1", 0)]["stats"]["turns"] == 1 and by[("a1", 0)]["stats"]["gen_tokens"] > 0
    s = summarize(recs, k=2)
    assert s["flashrag"]["metrics"]["em"] == {"avg@2": pytest.approx(1 / 3), "pass@2": pytest.approx(1 / 3),
                                              "maj@2": pytest.approx(1 / 3)}
    assert s["asearcher"]["metrics"]["cover_em"]["avg@2"] == pytest.approx(2 / 3)
    # a finished run reruns as a no-op that returns the same records
    again = await arun_eval(items, make_factory(), out, RunOptions(k=2, concurrency=3, progress=False))
    assert len(again) == 12 and len(_keys(out)) == 12


async def test_cancelled_run_resumes_to_the_same_summary(items, tmp_path):
    ref = await arun_eval(items, make_factory(), tmp_path / "ref.jsonl", RunOptions(k=3, concurrency=4, progress=False))
    out = tmp_path / "results.jsonl"
    task = asyncio.create_task(
        arun_eval(items, make_factory(delay_s=0.02), out, RunOptions(k=3, concurrency=4, progress=False))
    )
    while not out.exists() or len(_keys(out)) < 7:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    partial = _keys(out)
    assert 7 <= len(partial) < 18
    recs = await arun_eval(items, make_factory(), out, RunOptions(k=3, concurrency=4, progress=False))
    keys = _keys(out)
    assert keys[: len(partial)] == partial  # nothing rewritten
    assert len(keys) == len(set(keys)) == 18  # nothing duplicated or lost
    assert _comparable(summarize(recs, 3)) == _comparable(summarize(ref, 3))


_KILLED_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from eval_fakes import make_factory
from asearcher.eval.datasets import load_qa
from asearcher.eval.runner import RunOptions, arun_eval
items = load_qa({fix!r} + "/flashrag.jsonl") + load_qa({fix!r} + "/asearcher.jsonl")
asyncio.run(arun_eval(items, make_factory(delay_s=0.05), {out!r}, RunOptions(k=4, concurrency=3, progress=False)))
"""


async def test_sigkilled_run_resumes_without_loss(items, tmp_path):
    out = tmp_path / "results.jsonl"
    script = _KILLED_SCRIPT.format(tests=str(Path(__file__).parent), fix=str(FIX), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while (not out.exists() or len(_keys(out)) < 5) and time.monotonic() < deadline:
            assert proc.poll() is None, "the eval subprocess ended before it could be killed"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = _keys(out)
    assert 5 <= len(partial) < 24
    with out.open("a") as f:  # what a kill in the middle of a write leaves behind
        f.write('{"qid": "test_1", "sample": 3, "answ')
    recs = await arun_eval(items, make_factory(), out, RunOptions(k=4, concurrency=3, progress=False))
    keys = _keys(out)
    assert keys[: len(partial)] == partial and len(keys) == len(set(keys)) == 24
    assert all(line.strip() for line in out.read_text().splitlines())  # the torn line is gone
    ref = await arun_eval(items, make_factory(), tmp_path / "ref.jsonl", RunOptions(k=4, concurrency=3, progress=False))
    assert _comparable(summarize(recs, 4)) == _comparable(summarize(ref, 4))


def test_torn_last_line_is_ignored_and_cut(tmp_path):
    p = tmp_path / "r.jsonl"
    good = json.dumps({"qid": "a", "sample": 0}) + "\n"
    p.write_text(good + '{"qid": "b", "sam')
    recs, valid = read_results(p)
    assert [r["qid"] for r in recs] == ["a"] and valid == len(good)
    with ResultsFile(p) as f:
        assert f.done == {("a", 0)}
        f.append({"qid": "b", "sample": 0})
    assert [json.loads(x)["qid"] for x in p.read_text().splitlines()] == ["a", "b"]


def test_damaged_middle_line_is_a_user_error(tmp_path):
    from asearcher.errors import UserError

    p = tmp_path / "r.jsonl"
    p.write_text('{"qid": "a", "sample": 0}\nGARBAGE\n{"qid": "b", "sample": 0}\n')
    with pytest.raises(UserError, match=r"r\.jsonl:2"):
        read_results(p)
