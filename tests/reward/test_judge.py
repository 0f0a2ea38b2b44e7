"""LLM judge: verdict parsing, caching across runs, sharing of concurrent identical requests.

The judge engine is a ScriptedEngine: it stands in for a remote judge LLM (a paid or GPU-served
model), and lets the tests count exactly how many calls reach the model.
"""

import asyncio

import pytest

from asearcher.api.trajectory import Trajectory, Turn
from asearcher.engines.scripted import ScriptedEngine
from asearcher.reward.judge import LLMJudge, parse_verdict
from asearcher.reward.rewards import ajudge_reward


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Rationale: same person.\nVerdict: correct", "correct"),
        ("Correct", "correct"),
        ("Rationale: different city.\n**Incorrect**", "incorrect"),
        ('{"rationale": "matches", "verdict": "Correct"}', "correct"),
        ('{"verdict": "incorrect"}', "incorrect"),
        ("Verdict: correct\nOn reflection the date differs.\nVerdict: incorrect", "incorrect"),
        ("The answer is incorrect at first sight but correct after all.\nyes", "correct"),
        ("no", "incorrect"),
        ("Verdict: **invalid** - the question has no single answer", "invalid"),
        ("final verdict = Yes", "correct"),
        ("I cannot tell.", None),
        ("", None),
        ("The candidate is correct in spirit but I am unsure", None),  # no explicit verdict
    ],
)
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


async def test_judge_cache_makes_a_rerun_free(tmp_path):
    cache = tmp_path / "judge.sqlite"
    engine = ScriptedEngine(["Rationale: ok.\nVerdict: correct", "Rationale: no.\nVerdict: incorrect"])
    judge = LLMJudge(engine, model="judge-x", cache_path=cache)
    a = await judge.ajudge("Capital of France?", ["Paris"], "Paris, France")
    b = await judge.ajudge("Capital of Italy?", ["Rome"], "Milan")
    assert (a.verdict, a.cached, b.verdict) == ("correct", False, "incorrect")
    assert len(engine.requests) == 2
    assert engine.requests[0].messages is not None and "Paris, France" in engine.requests[0].messages[-1]["content"]

    engine2 = ScriptedEngine([])  # would raise if called
    judge2 = LLMJudge(engine2, model="judge-x", cache_path=cache)
    a2 = await judge2.ajudge("Capital of France?", ["Paris"], "Paris, France")
    b2 = await judge2.ajudge("Capital of Italy?", ["Rome"], "Milan")
    assert (a2.verdict, a2.cached, b2.verdict) == ("correct", True, "incorrect")
    assert engine2.requests == [] and judge2.calls == 0

    # another judge model or prompt input is a different key
    judge3 = LLMJudge(ScriptedEngine(["Verdict: incorrect"]), model="judge-y", cache_path=cache)
    assert (await judge3.ajudge("Capital of France?", ["Paris"], "Paris, France")).verdict == "incorrect"
    assert judge3.calls == 1


async def test_unparseable_reply_is_retried_with_sampling(tmp_path):
    engine = ScriptedEngine(["hmm, hard to say", "Verdict: correct"])
    judge = LLMJudge(engine, model="j", cache_path=tmp_path / "c.sqlite")
    v = await judge.ajudge("q", ["a"], "a")
    assert (v.verdict, v.attempts, v.score) == ("correct", 2, 1.0)
    assert (judge.calls, judge.retries, judge.failed) == (2, 1, 0)
    # the first call is greedy; a greedy retry would repeat the unparseable reply
    assert [r.temperature for r in engine.requests] == [0.0, 0.6]


async def test_no_verdict_after_the_bounded_attempts_counts_as_incorrect_and_is_not_cached(tmp_path):
    engine = ScriptedEngine(["hmm", "still unsure", "no idea", "Verdict: correct"])
    judge = LLMJudge(engine, model="j", cache_path=tmp_path / "c.sqlite", max_attempts=3)
    v = await judge.ajudge("q", ["a"], "a")
    assert v.failed and v.verdict is None and v.raw == "no idea" and v.attempts == 3
    assert v.score == 0.0  # counted as incorrect, never dropped from the denominator
    assert (judge.calls, judge.failed) == (3, 1)
    assert (await judge.ajudge("q", ["a"], "a")).verdict == "correct"  # not cached: a rerun asks again
    assert judge.calls == 4


async def test_unreachable_judge_is_retried_then_scored_incorrect():
    def down(_req):
        raise ConnectionError("judge server refused the connection")

    engine = ScriptedEngine([down], repeat_last=True)
    judge = LLMJudge(engine, model="j", max_attempts=2, retry_backoff_s=0.0)
    v = await judge.ajudge("q", ["a"], "a")
    assert v.failed and v.score == 0.0 and "ConnectionError" in v.error
    assert len(engine.requests) == 2 and judge.failed == 1
    with pytest.raises(ValueError):
        LLMJudge(engine, model="j", max_attempts=0)


async def test_long_predictions_are_clipped_before_judging():
    engine = ScriptedEngine(["Verdict: incorrect"], repeat_last=True)
    judge = LLMJudge(engine, model="j", max_prediction_chars=40)
    await judge.ajudge("q", ["Paris"], "x" * 39 + "YZ" + "w" * 1000)
    shown = engine.requests[0].messages[-1]["content"]
    assert "Candidate answer: " + "x" * 39 + "Y\n" in shown
    await judge.ajudge("q", ["Paris"], "Paris</answer> trailing tag debris")
    shown = engine.requests[1].messages[-1]["content"]
    assert "Candidate answer: Paris\n" in shown and "debris" not in shown


async def test_concurrent_identical_requests_share_one_call(tmp_path):
    async def slow_reply_engine():
        engine = ScriptedEngine(["Verdict: correct"], repeat_last=True)
        inner = engine.agenerate

        async def agenerate(req):
            await asyncio.sleep(0.05)
            return await inner(req)

        engine.agenerate = agenerate
        return engine

    engine = await slow_reply_engine()
    judge = LLMJudge(engine, model="j", cache_path=tmp_path / "c.sqlite")
    results = await asyncio.gather(*[judge.ajudge("q", ["a"], "a") for _ in range(5)])
    assert all(r.verdict == "correct" for r in results)
    assert len(engine.requests) == 1


async def test_judge_reward():
    judge = LLMJudge(ScriptedEngine(["Verdict: correct", "Verdict: invalid", "?", "?", "?"]), model="j")
    assert await ajudge_reward(judge, "Paris", ["Paris"], question="Capital?") == 1.0
    assert await ajudge_reward(judge, "x", ["y"], question="Bad?", invalid_policy="skip") is None
    assert await ajudge_reward(judge, None, ["y"], question="Bad?") == 0.0  # no answer: no judge call
    assert await ajudge_reward(judge, "Lyon", ["Paris"], question="Capital?") == 0.0  # failed: incorrect
    assert (judge.calls, judge.failed) == (5, 1)


async def test_judge_reward_judges_the_final_answer_whatever_earlier_turns_did():
    traj = Trajectory(qid="q", question="Capital of France?", answer="Paris", turns=[
        Turn(index=0, output="<search>capital", action="none", format_ok=False, error="unclosed"),
        Turn(index=1, output="<answer>Paris</answer>", action="answer", argument="Paris"),
    ])
    assert not traj.format_ok
    judge = LLMJudge(ScriptedEngine(["Verdict: correct"]), model="j")
    assert await ajudge_reward(judge, traj, ["Paris"]) == 1.0
