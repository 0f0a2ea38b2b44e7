"""Scripted expert trajectories for the SFT warm start: real episodes, scripted policy.

The policy is `ExpertEngine`, an `InferenceEngine` whose replies are computed from the context it is
shown; everything else is real: the `BaseAgent` loop (prompt, stop strings, observation framing,
budgets), the search tool over the real index, the real model's tokenizer. So the SFT data has
exactly the agent's token layout and loss masks, and SFT teaches the format the RL phase samples in.

The expert solves the corpus QA task ("Which Wikipedia article is described as: '<d>'?"):

    turn 0: <think>…</think>\\n<search>d</search>          (search for the quoted description)
    turn 1: <think>…</think>\\n<answer>title</answer>      (answer with a hit's title)

Which hit: with `oracle=True` (the default for SFT data) the hit whose title is a gold alias when
one is among the shown hits, else the first hit; with `oracle=False` always the first hit (a pure
"trust the ranker" policy: ~60% EM on qa_test with topk 5, measured in docs/cpu-default.md).
The oracle only picks among what the policy itself sees, so a student can in principle learn the
choice from the observation; the gold never appears in the tokens.

Fact questions (corpus/facts.py: fill the blank of a sentence from Wikipedia) get their own
scripts, both without the gold (`fact_expert.py`):

    weak   (SFT data, `oracle=False`): search the sentence; read hit 1's page when the episode's
           coin says so (`read`, drawn per question), else answer from hit 1's snippet.
    strong (`oracle=True`, the measured "perfect strategy"): search; answer from any snippet that
           shows the sentence; otherwise read the hits' pages in rank order.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from asearcher.agent import make_agent
from asearcher.agent.config import AgentConfig
from asearcher.api import GenRequest, GenResult, Tokenizer, Tool, Trajectory
from asearcher.corpus.facts import parse_fact_question
from asearcher.reward import exact_match
from asearcher.rl.train.fact_expert import fact_reply

logger = logging.getLogger(__name__)

_QUOTED = re.compile(r"'(.+)'")
# A hit as `tools.search_tool.format_hits` renders it ("numbered" style): "[1] Title\nURL: ...".
_HIT = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


def description_of(question: str) -> str:
    """The quoted description of a corpus question; the whole question when nothing is quoted.

    >>> description_of("Which Wikipedia article is described as: 'Painting by Leonardo da Vinci'?")
    'Painting by Leonardo da Vinci'
    """
    m = _QUOTED.search(question)
    return m.group(1).strip() if m else question.strip()


def last_hit_titles(context: str) -> list[str]:
    """Titles of the hits in the last <information> block of `context` ([] when there is none)."""
    start = context.rfind("<information>")
    if start < 0:
        return []
    return [m.group(2).strip() for m in _HIT.finditer(context[start:])]


class ExpertEngine:
    """A scripted expert for ONE episode, as an `InferenceEngine` (module docstring).

    Output ids are `tokenizer.encode(reply)` cut at the first stop string, as a real engine's output
    would be; logprobs are 0.0 (they are not used: SFT trains on the ids and the mask only).
    """

    def __init__(self, tokenizer: Tokenizer, question: str, gold: Sequence[str] = (), *, oracle: bool = True,
                 read: bool = False) -> None:
        self.tokenizer = tokenizer
        self.version = 0
        self.question = question
        self.gold = list(gold)
        self.oracle = oracle
        self.read = read  # fact questions, weak expert: read hit 1's page before answering
        self.hops = parse_fact_question(question)  # [] unless a fact question

    def reply(self, context: str) -> str:
        """The expert's next output given the decoded context."""
        if self.hops:
            return fact_reply(self.question, self.hops, context, strong=self.oracle, read=self.read)
        titles = last_hit_titles(context)
        if "<information>" not in context or not titles:
            d = description_of(self.question)
            # A short thought: the description appears once, so the turn fits small per-turn budgets.
            return f"<think>I will search for the description.</think>\n<search>{d}</search>"
        pick = 0
        if self.oracle and self.gold:
            pick = next((i for i, t in enumerate(titles) if exact_match(t, self.gold) > 0), 0)
        return f"<think>Result [{pick + 1}] fits the description.</think>\n<answer>{titles[pick]}</answer>"

    async def agenerate(self, request: GenRequest) -> GenResult:
        start = time.perf_counter()
        assert request.input_ids is not None, "the expert runs in token mode (BaseAgent)"
        context = self.tokenizer.decode(request.input_ids)
        if context.rstrip().endswith("<answer>") and self.hops:
            text = fact_reply(self.question, self.hops, context, strong=self.oracle, read=False, forced=True)
        elif context.rstrip().endswith("<answer>"):  # forced-answer injection: complete the answer only
            titles = last_hit_titles(context)
            text = f"{titles[0] if titles else description_of(self.question)}</answer>"
        else:
            text = self.reply(context)
        cuts = [text.find(s) + len(s) for s in request.stop if s and s in text]
        if cuts:
            text = text[: min(cuts)]
        ids = self.tokenizer.encode(text)[: request.max_new_tokens]
        finish = "stop" if len(ids) < request.max_new_tokens or cuts else "length"
        return GenResult(ids, self.tokenizer.decode(ids), [0.0] * len(ids), [self.version] * len(ids),
                         finish_reason=finish, latency_s=time.perf_counter() - start)


def coin(qid: str) -> float:
    """A number in [0, 1) fixed by the question id: the weak expert's per-question choice."""
    return int(hashlib.sha1(qid.encode("utf-8")).hexdigest()[:8], 16) / 16**8


@dataclass(slots=True)
class ExpertStats:
    """What `acollect_expert` produced: episodes run, kept (correct), and the expert's EM."""

    episodes: int
    kept: int
    em: float
    seconds: float


async def acollect_expert(
    items: Sequence[tuple[str, str, list[str]]],
    tools: dict[str, Tool],
    tokenizer: Tokenizer,
    agent_config: AgentConfig,
    *,
    oracle: bool = True,
    keep_only_correct: bool = True,
    concurrency: int = 32,
    read_prob: float = 0.0,
) -> tuple[list[Trajectory], ExpertStats]:
    """Run the expert through the real `BaseAgent` on `(qid, question, golds)` items.

    Each trajectory gets `reward` = EM of its answer. With `keep_only_correct` (rejection-sampled
    SFT data) only EM = 1 episodes are returned. `read_prob`: the share of fact questions on which
    the weak expert reads hit 1's page (drawn from the question id, so reproducible).
    """
    start = time.perf_counter()
    sem = asyncio.Semaphore(concurrency)

    async def one(qid: str, question: str, golds: list[str]) -> Trajectory | None:
        async with sem:
            engine = ExpertEngine(tokenizer, question, golds, oracle=oracle, read=coin(qid) < read_prob)
            traj = await make_agent("base", engine, tools, agent_config).arun(question, qid=qid, gold=golds)
        if traj is not None:
            traj.reward = exact_match(traj.answer, golds) if traj.format_ok else 0.0
        return traj

    done = [t for t in await asyncio.gather(*(one(*it) for it in items)) if t is not None]
    em = sum(t.reward or 0.0 for t in done) / max(len(done), 1)
    kept = [t for t in done if (t.reward or 0.0) > 0] if keep_only_correct else done
    stats = ExpertStats(len(done), len(kept), em, time.perf_counter() - start)
    logger.info("expert: %d episodes, EM %.3f, kept %d, %.1f s", stats.episodes, em, stats.kept, stats.seconds)
    return kept, stats
