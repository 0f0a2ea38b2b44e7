"""Quality verification of a synthesised question after every edit.

Three checks, in order, each able to reject the edit (ASearcher, section "QA synthesis"):
1. validity: cheap string checks (answer leaked into the question, several questions joined),
   then the verifier model judges the pair against the collected facts;
2. difficulty: the proposer answers N times without tools; answers are graded with the shared
   graders (`asearcher.reward`: exact match, else the LLM judge) and the accuracy is recorded;
3. uniqueness: every distinct wrong answer from step 2 is shown to the verifier as a possibly
   valid alternative; one accepted alternative rejects the edit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from asearcher.api.engine import InferenceEngine
from asearcher.reward.judge import LLMJudge
from asearcher.reward.qa_metrics import cover_exact_match, exact_match, normalize_answer
from asearcher.synth import prompts
from asearcher.synth.config import SynthConfig
from asearcher.synth.llm_json import acall_json, require_bool, require_str

logger = logging.getLogger(__name__)

Outcome = Literal["passed", "invalid", "alternative_answer", "failed"]


@dataclass(slots=True)
class Verification:
    """Result of verifying one question-answer pair.

    Attributes:
        outcome: "passed", "invalid" (validity check), "alternative_answer" (uniqueness check), or
            "failed" (a model reply stayed malformed after the retries).
        reason: why it did not pass ("" when it passed).
        accuracy: tool-free accuracy over the N answers (None when the check did not run).
        answers: the N tool-free answers with their grade: [{"answer": str | None, "correct": bool}].
        alternatives: wrong answers checked for uniqueness, with the verifier's decision.
    """

    outcome: Outcome
    reason: str = ""
    accuracy: float | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)
    alternatives: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def static_problem(question: str, answer: str) -> str | None:
    """Validity problems visible without a model, or None.

    >>> static_problem("Who painted the Mona Lisa? When?", "Leonardo")
    'several questions joined (2 question marks)'
    >>> static_problem("Which city hosts the Louvre?", "Paris") is None
    True
    """
    if question.count("?") > 1:
        return f"several questions joined ({question.count('?')} question marks)"
    norm_a, norm_q = normalize_answer(answer), normalize_answer(question)
    if norm_a and f" {norm_a} " in f" {norm_q} ":
        return f"the answer {answer!r} appears in the question"
    return None


class Verifier:
    """Runs the three checks with the proposer (answering) and the verifier (judging) models."""

    def __init__(self, proposer: InferenceEngine, verifier: InferenceEngine, config: SynthConfig) -> None:
        self.proposer = proposer
        self.verifier = verifier
        self.config = config
        self.judge = LLMJudge(verifier, model="synth-verifier", max_new_tokens=config.verifier.max_new_tokens)

    async def averify(self, question: str, answer: str, facts: list[str], seed: int) -> Verification:
        """All three checks; stops at the first that rejects."""
        problem = static_problem(question, answer)
        if problem:
            return Verification("invalid", problem)
        c = self.config
        reply = await acall_json(
            self.verifier,
            prompts.check_valid(question, answer, facts),
            check=require_bool("valid"),
            retries=c.json_retries,
            max_new_tokens=c.verifier.max_new_tokens,
            temperature=c.verifier.temperature,
            seed=seed,
        )
        if not reply.ok:
            return Verification("failed", f"validity check: {reply.error} after {len(reply.raws)} tries")
        if not reply.data["valid"]:
            return Verification("invalid", str(reply.data.get("reason", "")) or "judged invalid")
        answers = await self._adirect_answers(question, answer, seed)
        accuracy = sum(a["correct"] for a in answers) / len(answers)
        result = Verification("passed", accuracy=accuracy, answers=answers)
        await self._acheck_alternatives(result, question, answer, facts, seed)
        return result

    async def _adirect_answers(self, question: str, gold: str, seed: int) -> list[dict[str, Any]]:
        c = self.config

        async def one(i: int) -> dict[str, Any]:
            reply = await acall_json(
                self.proposer,
                prompts.answer_directly(question),
                check=require_str("answer"),
                retries=c.json_retries,
                max_new_tokens=c.answer.max_new_tokens,
                temperature=c.answer.temperature,
                seed=seed + 1000 * (i + 1),
            )
            # An answer the model never gave in the asked form counts as not solved.
            pred = reply.data["answer"].strip() if reply.ok else None
            return {"answer": pred, "correct": await self._agrade(question, gold, pred)}

        return list(await asyncio.gather(*(one(i) for i in range(c.direct_samples))))

    async def _agrade(self, question: str, gold: str, pred: str | None) -> bool:
        if pred is None:
            return False
        if self.config.scoring == "cover_em":
            return cover_exact_match(pred, [gold]) == 1.0
        if exact_match(pred, [gold]) == 1.0:  # a normalised exact match is correct under any judge
            return True
        if self.config.scoring == "em":
            return False
        verdict = await self.judge.ajudge(question, [gold], pred)
        return verdict.score == 1.0

    async def _acheck_alternatives(
        self, result: Verification, question: str, answer: str, facts: list[str], seed: int
    ) -> None:
        c = self.config
        wrong: dict[str, str] = {}
        for a in result.answers:
            if not a["correct"] and a["answer"]:
                wrong.setdefault(normalize_answer(a["answer"]), a["answer"])
        for k, candidate in enumerate(wrong.values()):
            reply = await acall_json(
                self.verifier,
                prompts.check_alternative(question, answer, facts, candidate),
                check=require_bool("also_correct"),
                retries=c.json_retries,
                max_new_tokens=c.verifier.max_new_tokens,
                temperature=c.verifier.temperature,
                seed=seed + 7 * (k + 1),
            )
            if not reply.ok:
                result.outcome, result.reason = "failed", f"uniqueness check of {candidate!r}: {reply.error}"
                return
            result.alternatives.append(
                {
                    "answer": candidate,
                    "also_correct": reply.data["also_correct"],
                    "reason": str(reply.data.get("reason", "")),
                }
            )
            if reply.data["also_correct"]:
                result.outcome, result.reason = "alternative_answer", f"{candidate!r} is also a correct answer"
                return
