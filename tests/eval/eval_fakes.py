"""A real BaseAgent driven by a ScriptedEngine, shared by the eval tests (imported as `eval_fakes`).

The ScriptedEngine is a fake LLM used for determinism: the tests compare an interrupted run with an
uninterrupted one, which only makes sense when the same question always gets the same answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.scripted import ScriptedEngine
from asearcher.eval.datasets import load_qa

FIX = Path(__file__).parents[1] / "fixtures" / "eval"

# Answers keyed by a word of the question: some right, some wrong, one missing (no answer tag).
ANSWERS = {"nineteen": "George Orwell", "australia": "Sydney", "hexagon": "six sides", "Vienna": "the Danube",
           "Apollo": "1969", "boiling": "I do not know"}


def scripted_reply(request) -> str:
    text = ByteTokenizer().decode(request.input_ids)
    for key, ans in ANSWERS.items():
        if key in text:
            return f"<think>I recall it.</think>\n<answer>{ans}</answer>"
    return "<answer>unknown</answer>"


def make_factory(delay_s: float = 0.0):
    """Agent factory; `delay_s` makes each generation await, so several episodes are in flight."""
    engine = ScriptedEngine([scripted_reply], repeat_last=True)
    if delay_s:
        inner = engine.agenerate

        async def agenerate(req):
            await asyncio.sleep(delay_s)
            return await inner(req)

        engine.agenerate = agenerate
    return lambda: BaseAgent(engine, {}, AgentConfig(max_context_tokens=4096, max_turns=2))


def fixture_items():
    """The six questions of two fixture files (two datasets)."""
    return load_qa(FIX / "flashrag.jsonl") + load_qa(FIX / "asearcher.jsonl")
