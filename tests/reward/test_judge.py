"""LLM judge: verdict parsing, caching across runs, sharing of concurrent identical requests.

The judge engine is a ScriptedEngine: it stands in for a remote judge LLM (a paid or GPU-served
model), and lets the tests count exactly how many calls reach the model.
"""

import asyncio

import pytest

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


async def test_unparseable_reply_is_none_and_not_cached(tmp_path):
    engine = ScriptedEngine(["hmm, hard to say", "Verdict: correct"])
    judge = LLMJudge(engine, model="j", cache_path=tmp_path / "c.sqlite")
    v = await judge.ajudge("q", ["a"], "a")
    assert v.verdict is None and v.raw == "hmm, hard to say" and v.score is None
    assert (await judge.ajudge("q", ["a"], "a")).verdict == "correct"
    assert judge.calls == 2


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


async def test_judge_reward(tmp_path):
    judge = LLMJudge(ScriptedEngine(["Verdict: correct", "Verdict: invalid"]), model="j")
    assert await ajudge_reward(judge, "Paris", ["Paris"], question="Capital?") == 1.0
    assert await ajudge_reward(judge, "Paris", ["Paris"], question="Capital?", format_ok=False) == 0.0
    assert await ajudge_reward(judge, "x", ["y"], question="Bad?", invalid_policy="skip") is None
    assert await ajudge_reward(judge, None, ["y"], question="Bad?") == 0.0  # no answer: no judge call
    assert judge.calls == 2
