"""The QA-synthesis agent: one seed page in, one verified hard question (or a typed rejection) out.

The loop (ASearcher, "QA synthesis agent"): extract facts from a seed page, propose a simple
question with a unique answer, then repeatedly let the proposer choose an edit:
- inject: follow a link to a related page and fold one of its facts into the question;
- fuzz: blur a detail that points too directly at the answer;
- stop: allowed only once the question is hard (tool-free accuracy <= `hard_accuracy`).
Every edit is verified (`verify.Verifier`); a rejected edit leaves the question as it was. A
malformed model reply is retried and then recorded as a failed step, never raised.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from asearcher.api.engine import InferenceEngine
from asearcher.api.retriever import PageStore
from asearcher.corpus.urls import normalize_url
from asearcher.reward.qa_metrics import normalize_answer
from asearcher.synth import prompts
from asearcher.synth.config import SynthConfig
from asearcher.synth.graph import LinkGraph
from asearcher.synth.llm_json import acall_json, require_str
from asearcher.synth.verify import Verification, Verifier

logger = logging.getLogger(__name__)

ACTIONS = ("inject", "fuzz", "stop")


def _int_seed(*parts: Any) -> int:
    return int(hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


@dataclass(slots=True)
class _State:
    """The question as last accepted, and what it rests on."""

    question: str
    answer: str
    facts: list[str]
    pages: list[dict[str, str]]  # {"url", "title"} of every page used, seed first
    accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)


def _facts_check(obj: dict[str, Any]) -> str | None:
    facts = obj.get("facts")
    if not isinstance(facts, list) or not any(isinstance(f, str) and f.strip() for f in facts):
        return "field 'facts' must be a non-empty list of strings"
    return None


def _action_check(obj: dict[str, Any]) -> str | None:
    action = str(obj.get("action", "")).strip().lower()
    if action not in ACTIONS:
        return f"field 'action' must be one of {list(ACTIONS)}, got {obj.get('action')!r}"
    obj["action"] = action
    if action == "fuzz":
        return require_str("question")(obj)
    return None


class SynthesisAgent:
    """Builds one question per seed page with a proposer and a verifier model.

    Args:
        proposer: the reasoning model: proposes and edits questions, answers without tools.
        verifier: the instruct model: extracts facts, judges validity, grades and checks alternatives.
        store: pages by URL; graph: links between them.
    """

    def __init__(
        self,
        proposer: InferenceEngine,
        verifier: InferenceEngine,
        store: PageStore,
        graph: LinkGraph,
        config: SynthConfig | None = None,
    ) -> None:
        self.proposer, self.verifier_engine = proposer, verifier
        self.store, self.graph = store, graph
        self.config = config or SynthConfig()
        self.verifier = Verifier(proposer, verifier, self.config)

    async def _afacts(self, url: str, seed: int) -> tuple[str, list[str]] | dict[str, Any]:
        """(title, facts) of a page, or a failure {"reason", "raw"} for the history."""
        page = self.store.get(url)
        if page is None:
            return {"reason": f"page {url} is not in the page store", "raw": []}
        c = self.config
        reply = await acall_json(
            self.verifier_engine,
            prompts.extract_facts(page.title, page.text[: c.page_chars], c.facts_per_page),
            check=_facts_check,
            retries=c.json_retries,
            max_new_tokens=c.verifier.max_new_tokens,
            temperature=c.verifier.temperature,
            seed=seed,
        )
        if not reply.ok:
            return {
                "reason": f"fact extraction from {url}: {reply.error} after {len(reply.raws)} tries",
                "raw": reply.raws,
            }
        facts = [f.strip() for f in reply.data["facts"] if isinstance(f, str) and f.strip()]
        return page.title, facts[: c.facts_per_page]

    async def arun(self, qid: str, seed_url: str) -> dict[str, Any]:
        """Synthesise from `seed_url`; the record carries `status` accepted / rejected / failed."""
        start = time.perf_counter()
        seed = _int_seed(qid)
        record: dict[str, Any] = {
            "id": qid,
            "question": None,
            "answer": None,
            "source": self.config.source,
            "status": "failed",
            "reason": "",
            "seed_url": normalize_url(seed_url),
            "facts": [],
            "pages": [],
            "accuracy": None,
            "history": [],
        }
        state = await self._abase(record, seed)
        if state is not None:
            await self._aedit_loop(state, random.Random(seed), seed)
            self._finish(record, state)
        record["time_s"] = round(time.perf_counter() - start, 3)
        return record

    async def _abase(self, record: dict[str, Any], seed: int) -> _State | None:
        """Facts and the base question; None (record marked failed / rejected) when unusable."""
        c = self.config
        got = await self._afacts(record["seed_url"], seed)
        if isinstance(got, dict):
            record["reason"] = got["reason"]
            record["history"] = [
                {"step": 0, "action": "extract-facts", "target": record["seed_url"], "status": "failed", **got}
            ]
            return None
        title, facts = got
        reply = await acall_json(
            self.proposer,
            prompts.propose_base(title, facts),
            check=require_str("question", "answer"),
            retries=c.json_retries,
            max_new_tokens=c.proposer.max_new_tokens,
            temperature=c.proposer.temperature,
            seed=seed + 1,
        )
        entry: dict[str, Any] = {"step": 0, "action": "propose", "question_before": None, "target": record["seed_url"]}
        if not reply.ok:
            record["reason"] = f"base question: {reply.error} after {len(reply.raws)} tries"
            record["history"] = [{**entry, "status": "failed", "reason": record["reason"], "raw": reply.raws}]
            return None
        q, a = reply.data["question"].strip(), reply.data["answer"].strip()
        used = [str(reply.data["fact"]).strip()] if str(reply.data.get("fact", "")).strip() else facts
        check = await self.verifier.averify(q, a, used, seed + 2)
        entry.update(question_after=q, answer=a, fact=used, verification=check.to_dict())
        record.update(question=q, answer=a, facts=used, pages=[record["seed_url"]])
        if not check.passed:
            record["status"] = "failed" if check.outcome == "failed" else "rejected"
            record["reason"] = f"base question {check.outcome}: {check.reason}"
            record["history"] = [{**entry, "status": record["status"], "reason": check.reason}]
            return None
        entry["status"] = "accepted"
        pages = [{"url": record["seed_url"], "title": title}]
        return _State(q, a, used, pages, check.accuracy or 0.0, [entry])

    def _candidates(self, state: _State, rng: random.Random) -> list[dict[str, str]]:
        used = {p["url"] for p in state.pages}
        pool = sorted({n for p in state.pages for n in self.graph.neighbours(p["url"])} - used)
        out = []
        for url in rng.sample(pool, min(len(pool), self.config.link_candidates)):
            page = self.store.get(url)
            if page is not None:
                out.append({"url": url, "title": page.title})
        return out

    async def _aedit_loop(self, state: _State, rng: random.Random, seed: int) -> None:
        c = self.config
        for step in range(1, c.max_edits + 1):
            may_stop = state.accuracy <= c.hard_accuracy
            cands = self._candidates(state, rng)
            reply = await acall_json(
                self.proposer,
                prompts.choose_action(
                    state.question, state.answer, state.facts, [x["title"] for x in cands], state.accuracy, may_stop
                ),
                check=_action_check,
                retries=c.json_retries,
                max_new_tokens=c.proposer.max_new_tokens,
                temperature=c.proposer.temperature,
                seed=seed + 100 * step,
            )
            entry: dict[str, Any] = {"step": step, "question_before": state.question}
            if not reply.ok:
                state.history.append(
                    {
                        **entry,
                        "action": None,
                        "status": "failed",
                        "reason": f"action choice: {reply.error} after {len(reply.raws)} tries",
                        "raw": reply.raws,
                    }
                )
                continue
            action, note = reply.data["action"], str(reply.data.get("note", ""))
            entry.update(action=action, note=note)
            if action == "stop":
                if may_stop:
                    state.history.append({**entry, "status": "accepted", "question_after": state.question})
                    return
                state.history.append(
                    {
                        **entry,
                        "status": "refused",
                        "reason": f"stop refused: tool-free accuracy {state.accuracy:.2f} > {c.hard_accuracy}",
                    }
                )
                continue
            await self._aedit(state, entry, reply.data, cands, rng, seed + 100 * step)

    async def _aedit(
        self,
        state: _State,
        entry: dict[str, Any],
        choice: dict[str, Any],
        cands: list[dict[str, str]],
        rng: random.Random,
        seed: int,
    ) -> None:
        """Apply one inject / fuzz edit, verify it, and keep it only when it passes."""
        c = self.config
        facts, pages = state.facts, state.pages
        if choice["action"] == "fuzz":
            new_q = choice["question"].strip()
        else:
            if not cands:
                state.history.append({**entry, "status": "failed", "reason": "no linked page left to inject"})
                return
            wanted = str(choice.get("target", "")).strip().casefold()
            hit = [x for x in cands if wanted and wanted in (x["title"].casefold(), x["url"].casefold())]
            # ASearcher picks the neighbour at random; a named, listed page is used when given.
            target, entry["target_source"] = (hit[0], "model") if hit else (rng.choice(cands), "random")
            entry["target"] = target["url"]
            got = await self._afacts(target["url"], seed + 1)
            if isinstance(got, dict):
                state.history.append({**entry, "status": "failed", **got})
                return
            title, page_facts = got
            reply = await acall_json(
                self.proposer,
                prompts.inject_fact(state.question, state.answer, state.facts, title, page_facts),
                check=require_str("question", "answer"),
                retries=c.json_retries,
                max_new_tokens=c.proposer.max_new_tokens,
                temperature=c.proposer.temperature,
                seed=seed + 2,
            )
            if not reply.ok:
                state.history.append(
                    {
                        **entry,
                        "status": "failed",
                        "raw": reply.raws,
                        "reason": f"injection: {reply.error} after {len(reply.raws)} tries",
                    }
                )
                return
            new_q = reply.data["question"].strip()
            if normalize_answer(reply.data["answer"]) != normalize_answer(state.answer):
                state.history.append(
                    {
                        **entry,
                        "status": "rejected",
                        "question_after": new_q,
                        "reason": f"answer changed to {reply.data['answer']!r}",
                    }
                )
                return
            fact = str(reply.data.get("fact", "")).strip()
            facts = state.facts + ([fact] if fact else page_facts)
            pages = state.pages + [target]
            entry["fact"] = fact
        check = await self.verifier.averify(new_q, state.answer, facts, seed + 3)
        self._record_edit(state, entry, new_q, facts, pages, check)

    @staticmethod
    def _record_edit(
        state: _State,
        entry: dict[str, Any],
        new_q: str,
        facts: list[str],
        pages: list[dict[str, str]],
        check: Verification,
    ) -> None:
        entry.update(question_after=new_q, verification=check.to_dict())
        if check.passed:
            state.question, state.facts, state.pages = new_q, facts, pages
            state.accuracy = check.accuracy or 0.0
            state.history.append({**entry, "status": "accepted"})
        else:
            status = "failed" if check.outcome == "failed" else "rejected"
            state.history.append({**entry, "status": status, "reason": f"{check.outcome}: {check.reason}"})

    def _finish(self, record: dict[str, Any], state: _State) -> None:
        record.update(
            question=state.question,
            answer=state.answer,
            facts=state.facts,
            pages=[p["url"] for p in state.pages],
            accuracy=state.accuracy,
            history=state.history,
        )
        if state.accuracy <= self.config.hard_accuracy:
            record["status"], record["reason"] = "accepted", ""
        else:
            record["status"] = "rejected"
            record["reason"] = (
                f"too easy: tool-free accuracy {state.accuracy:.2f} > hard_accuracy "
                f"{self.config.hard_accuracy} after {len(state.history) - 1} edit steps"
            )
