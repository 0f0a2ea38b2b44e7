"""Scripted expert episodes: the real BaseAgent loop and search tool, with the expert as the policy."""

from __future__ import annotations

import asyncio

from asearcher.agent.config import AgentConfig
from asearcher.api.documents import Hit, Passage
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.rl.train.expert import ExpertEngine, acollect_expert, description_of, last_hit_titles
from asearcher.tools import SearchTool

QUESTION = "Which Wikipedia article is described as: 'Painting by Leonardo da Vinci'?"


class _Backend:
    """Three fixed hits, the gold one second; records the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def asearch(self, query: str, topk: int) -> list[Hit]:
        self.queries.append(query)
        titles = ["Leonardo da Vinci", "Mona Lisa", "The Last Supper"]
        return [Hit(Passage(str(i), t, f"text about {t}", f"https://en.wikipedia.org/wiki/{t}"), 1.0 - i / 10)
                for i, t in enumerate(titles)][:topk]


def _collect(oracle: bool, keep_only_correct: bool = False):
    backend = _Backend()
    tools = {"search": SearchTool(backend, topk=3)}
    cfg = AgentConfig(max_turns=3, max_new_tokens_per_turn=200, max_context_tokens=4096, force_answer_margin=32)
    items = [("q1", QUESTION, ["Mona Lisa"])]
    trajs, stats = asyncio.run(acollect_expert(items, tools, ByteTokenizer(), cfg, oracle=oracle,
                                               keep_only_correct=keep_only_correct))
    return trajs, stats, backend


def test_description_and_hit_parsing():
    assert description_of(QUESTION) == "Painting by Leonardo da Vinci"
    ctx = "x\n<information>\n[1] A\nURL: u\nt\n\n[2] B (film)\nURL: v\nt\n</information>\n"
    assert last_hit_titles("<information>\n[1] Old\n</information>" + ctx) == ["A", "B (film)"]
    assert last_hit_titles("no observation yet") == []


def test_expert_episode_searches_the_description_then_answers():
    trajs, stats, backend = _collect(oracle=True)
    (t,) = trajs
    assert backend.queries == ["Painting by Leonardo da Vinci"]
    assert [turn.action for turn in t.turns] == ["search", "answer"]
    assert t.answer == "Mona Lisa" and t.reward == 1.0 and t.format_ok
    assert stats.episodes == 1 and stats.em == 1.0


def test_expert_masks_cover_exactly_the_expert_replies():
    trajs, _, _ = _collect(oracle=True)
    seg = trajs[0].segments[0]
    tok = ByteTokenizer()
    sampled = tok.decode([i for i, m in zip(seg.token_ids, seg.loss_mask) if m])
    context = tok.decode([i for i, m in zip(seg.token_ids, seg.loss_mask) if not m])
    assert sampled.startswith("<think>") and "<search>Painting by Leonardo da Vinci</search>" in sampled
    assert sampled.endswith("<answer>Mona Lisa</answer>")
    # Observations and the prompt are context (mask 0), never trained.
    assert "<information>" in context and "[2] Mona Lisa" in context and "<information>" not in sampled
    assert QUESTION in context
    assert all(v == 0 for v, m in zip(seg.versions, seg.loss_mask) if m)
    assert all(v == -1 for v, m in zip(seg.versions, seg.loss_mask) if not m)


def test_non_oracle_expert_trusts_the_first_hit_and_filtering_drops_it():
    trajs, stats, _ = _collect(oracle=False)
    assert trajs[0].answer == "Leonardo da Vinci" and trajs[0].reward == 0.0
    kept, stats, _ = _collect(oracle=False, keep_only_correct=True)
    assert kept == [] and stats.episodes == 1 and stats.kept == 0


def test_expert_completes_a_forced_answer():
    engine = ExpertEngine(ByteTokenizer(), QUESTION, ["Mona Lisa"])
    from asearcher.api import GenRequest

    ctx = "<information>\n[1] Mona Lisa\nURL: u\n</information>\nNo more searching.\n<answer>"
    out = asyncio.run(engine.agenerate(GenRequest(input_ids=ByteTokenizer().encode(ctx), stop=["</answer>"])))
    assert out.text == "Mona Lisa</answer>" and out.finish_reason == "stop"
