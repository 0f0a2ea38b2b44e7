"""Robust JSON extraction and bounded retries."""

from __future__ import annotations

from asearcher.engines.scripted import ScriptedEngine
from asearcher.synth.llm_json import acall_json, extract_json, require_bool, require_str


def test_extract_json_shapes():
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('<think>draft {"a": 0}</think> final: {"a": 2} hope that helps') == {"a": 2}
    assert extract_json('{"a": {"b": [1, 2]}} then {"c": "}"}') == {"c": "}"}
    assert extract_json("[1, 2]") is None and extract_json("{broken") is None


async def test_acall_json_retries_then_reports_every_raw_reply():
    engine = ScriptedEngine(["nope", '{"valid": "maybe"}', '{"valid": "yes"}'])
    reply = await acall_json(
        engine,
        [{"role": "user", "content": "x"}],
        check=require_bool("valid"),
        retries=2,
        max_new_tokens=32,
        temperature=0.0,
        seed=5,
    )
    assert reply.ok and reply.data == {"valid": True} and len(reply.raws) == 3
    # retries sample (a greedy retry would repeat itself) with their own seeds
    assert [r.temperature for r in engine.requests] == [0.0, 0.7, 0.7]
    assert [r.seed for r in engine.requests] == [5, 6, 7]


async def test_acall_json_gives_up_after_the_bound():
    engine = ScriptedEngine(['{"answer": ""}'], repeat_last=True)
    reply = await acall_json(
        engine,
        [{"role": "user", "content": "x"}],
        check=require_str("answer"),
        retries=1,
        max_new_tokens=32,
        temperature=0.5,
    )
    assert not reply.ok and len(engine.requests) == 2 and "non-empty string" in reply.error
