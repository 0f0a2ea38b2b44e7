"""Prompts of the QA-synthesis agent. Every prompt asks for one JSON object, nothing else.

Each function returns chat messages. Tests select scripted replies by the `TASK:` tag that opens
every user message (e.g. "TASK: extract-facts"), so keep the tags stable.
"""

from __future__ import annotations

import json

_SYSTEM = (
    "You help build a dataset of hard, verifiable trivia questions for training search agents. "
    "Reply with exactly one JSON object and nothing after it."
)


def _chat(task: str, body: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": f"TASK: {task}\n\n{body}"}]


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {x}" for x in items) if items else "(none)"


def extract_facts(title: str, text: str, limit: int) -> list[dict[str, str]]:
    """Instruct model: list short, self-contained facts stated by one page."""
    return _chat(
        "extract-facts",
        f'Page title: {title}\nPage text:\n"""\n{text}\n"""\n\n'
        f"List up to {limit} distinct facts that the page states. Each fact is one short declarative "
        "sentence that names its subject in full (no 'it' or 'he'), with names, dates and numbers "
        'exactly as written.\nJSON: {"facts": ["...", "..."]}',
    )


def propose_base(title: str, facts: list[str]) -> list[dict[str, str]]:
    """Proposer: a first, simple question with one short answer, from one page's facts."""
    return _chat(
        "propose-question",
        f"Facts from the page '{title}':\n{_bullets(facts)}\n\n"
        "Write one simple question answered by these facts. Its answer must be short (a name, a "
        "date, a number or a place), unique, and must not appear in the question. Name the fact "
        "it relies on.\n"
        'JSON: {"question": "...", "answer": "...", "fact": "the fact used, copied from the list"}',
    )


def choose_action(
    question: str, answer: str, facts: list[str], links: list[str], accuracy: float | None, may_stop: bool
) -> list[dict[str, str]]:
    """Proposer: pick the next edit (inject, fuzz, or stop when the question is hard enough)."""
    acc = "unknown" if accuracy is None else f"{accuracy:.0%}"
    stop = (
        '- "stop": the question is hard enough; every clue is indirect. JSON: {"action": "stop", "note": "why"}\n'
        if may_stop
        else ""
    )
    return _chat(
        "choose-action",
        f"Current question: {question}\nAnswer: {answer}\n"
        f"A model answering from memory, without search, gets it right {acc} of the time.\n"
        f"Known facts:\n{_bullets(facts)}\n\nPages linked to the pages used so far:\n{_bullets(links)}\n\n"
        "Choose one edit that makes the question need more research while keeping the same answer:\n"
        '- "inject": replace a detail in the question by a clue from a linked page, so that the page '
        'must be found to resolve it. JSON: {"action": "inject", "target": "title of a linked page", "note": "why"}\n'
        '- "fuzz": blur one detail that points too directly at the answer (an exact date becomes a decade, a '
        'name becomes a description), keeping the answer unique. JSON: {"action": "fuzz", "question": '
        '"the rewritten question", "note": "what was blurred"}\n' + stop,
    )


def inject_fact(
    question: str, answer: str, facts: list[str], page_title: str, page_facts: list[str]
) -> list[dict[str, str]]:
    """Proposer: fold one fact of a linked page into the question, keeping the answer."""
    return _chat(
        "inject-fact",
        f"Current question: {question}\nAnswer: {answer}\nFacts behind it:\n{_bullets(facts)}\n\n"
        f"Facts from the linked page '{page_title}':\n{_bullets(page_facts)}\n\n"
        "Rewrite the question so that one of its details is described through a fact from the linked "
        "page instead of being named (a solver must look that page up). Keep exactly the same answer, "
        "keep one single question (not two joined), and do not reveal the answer.\n"
        'JSON: {"question": "...", "answer": "the same answer", "fact": "the linked-page fact you used"}',
    )


def check_valid(question: str, answer: str, facts: list[str]) -> list[dict[str, str]]:
    """Verifier: basic validity of a question-answer pair against its facts."""
    return _chat(
        "check-valid",
        f"Question: {question}\nProposed answer: {answer}\nFacts:\n{_bullets(facts)}\n\n"
        "The pair is valid only if all hold: (1) it is one question, not several joined together; "
        "(2) it asks for one thing, and the proposed answer is that thing; (3) the answer follows from "
        "the facts; (4) the question does not contain the answer.\n"
        'JSON: {"valid": true or false, "reason": "one sentence"}',
    )


def answer_directly(question: str) -> list[dict[str, str]]:
    """Proposer without tools: answer from memory (the difficulty check)."""
    return _chat(
        "answer",
        f"Question: {question}\n\nAnswer from your own knowledge, without searching. Give your best "
        'short answer (a name, date, number or place), even when unsure.\nJSON: {"answer": "..."}',
    )


def check_alternative(question: str, answer: str, facts: list[str], candidate: str) -> list[dict[str, str]]:
    """Verifier: is a different answer also correct (then the question is ambiguous)?"""
    return _chat(
        "check-alternative",
        f"Question: {question}\nIntended answer: {answer}\nFacts behind the intended answer:\n{_bullets(facts)}\n\n"
        f"Another answer was given: {json.dumps(candidate, ensure_ascii=False)}\n"
        "Does this other answer also satisfy every condition in the question, so that the question has "
        "more than one correct answer? Answer false if it refers to the same thing as the intended "
        "answer or if it breaks any condition.\n"
        'JSON: {"also_correct": true or false, "reason": "one sentence"}',
    )
