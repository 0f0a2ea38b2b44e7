"""Test-time scaling: aggregate K parallel answers by majority vote or by an aggregator LLM.

The other knob of the paper, a forced minimum number of tool calls before an answer, is the
reasoning agent's `AgentConfig.min_actions_before_answer` (the eval CLI passes `agent.*` overrides
through); the external summary model reading pages for the agent is `--summary-model`
(agent/summary.py).
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from asearcher.api.engine import GenRequest, InferenceEngine
from asearcher.reward.qa_metrics import normalize_answer

logger = logging.getLogger(__name__)


def majority_vote(answers: list[str | None]) -> str | None:
    """The most frequent answer after normalisation; ties go to the answer seen first.

    Returns the first original spelling of the winning answer; None when no sample answered.

    >>> majority_vote(["Paris", "the Paris", "Lyon", None])
    'Paris'
    """
    keyed = [(normalize_answer(a), a) for a in answers if a is not None and normalize_answer(a)]
    if not keyed:
        return None
    counts = Counter(k for k, _ in keyed)
    first: dict[str, int] = {}
    for i, (k, _) in enumerate(keyed):
        first.setdefault(k, i)
    best = max(counts, key=lambda k: (counts[k], -first[k]))
    return keyed[first[best]][1]


_AGG_PROMPT = (
    "Several independent research attempts answered the same question. Pick the answer that is "
    "best supported: prefer one reached by several attempts and consistent with the question's "
    "wording. Reply with the number of the chosen answer only, as 'Choice: N'.\n\n"
    "Question: {question}\n\n{options}"
)


async def aaggregate_with_llm(engine: InferenceEngine, question: str, answers: list[str | None]) -> str | None:
    """Ask an aggregator model to pick the best supported answer among the candidates.

    Falls back to the majority vote (with a warning) when the reply names no valid choice.
    """
    candidates = [a for a in answers if a is not None and a.strip()]
    if len(set(map(normalize_answer, candidates))) <= 1:
        return candidates[0] if candidates else None
    options = "\n".join(f"Answer {i + 1}: {a}" for i, a in enumerate(candidates))
    req = GenRequest(
        messages=[{"role": "user", "content": _AGG_PROMPT.format(question=question, options=options)}],
        max_new_tokens=64,
        temperature=0.0,
    )
    text = (await engine.agenerate(req)).text
    m = re.findall(r"(\d+)", text)
    if m and 1 <= int(m[-1]) <= len(candidates):
        return candidates[int(m[-1]) - 1]
    logger.warning("aggregator reply names no choice (%r); using the majority vote", text[:100])
    return majority_vote(candidates)
