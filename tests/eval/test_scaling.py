"""Test-time scaling: majority vote over normalised answers and the aggregator LLM.

The aggregator engine is a ScriptedEngine standing in for a remote aggregator model (fake justified:
the tests pin its reply to check how the choice is read).
"""

from asearcher.engines.scripted import ScriptedEngine
from asearcher.eval.scaling import aaggregate_with_llm, majority_vote


def test_majority_vote():
    assert majority_vote(["The Beatles", "beatles!", "Queen"]) == "The Beatles"
    assert majority_vote(["Queen", "Beatles", "beatles", "queen "]) == "Queen"  # 2-2 tie: first seen
    assert majority_vote([None, "", "Rome"]) == "Rome"  # no answer / empty answers do not vote
    assert majority_vote([None, None]) is None
    assert majority_vote(["a", "b", "b", "c"]) == "b"


async def test_aggregator_llm_picks_a_candidate():
    engine = ScriptedEngine(["The second one is best supported. Choice: 2"])
    got = await aaggregate_with_llm(engine, "Capital of Australia?", ["Sydney", "Canberra", None, "Sydney"])
    assert got == "Canberra"
    assert "Answer 2: Canberra" in engine.requests[0].messages[0]["content"]


async def test_aggregator_falls_back_to_vote_and_skips_trivial_cases():
    engine = ScriptedEngine(["I cannot decide."])
    assert await aaggregate_with_llm(engine, "q", ["Sydney", "Canberra", "sydney"]) == "Sydney"
    idle = ScriptedEngine([])  # would raise if called
    assert await aaggregate_with_llm(idle, "q", ["Paris", "paris."]) == "Paris"
    assert await aaggregate_with_llm(idle, "q", [None]) is None
