"""Helpers for the synthesis tests: a four-page corpus with links, and a prompt-routed scripted model.

The models are `ScriptedEngine`s, the project's accepted deterministic fake of an LLM: each reply
is chosen from the `TASK:` tag that opens every synthesis prompt (LLMJudge prompts, which carry no
tag, are recognised by their "Candidate answer:" line).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from asearcher.api.engine import GenRequest
from asearcher.engines.scripted import ScriptedEngine

W = "https://en.wikipedia.org/wiki/"
PAGES = [
    {
        "url": W + "Alpha_Town",
        "title": "Alpha Town",
        "text": "Alpha Town is a town on the Beta River, founded in 1820.",
    },
    {
        "url": W + "Beta_River",
        "title": "Beta River",
        "text": "The Beta River is 300 km long and rises in the Gamma Hills.",
    },
    {"url": W + "Gamma_Hills", "title": "Gamma Hills", "text": "The Gamma Hills are a range of low hills."},
    {"url": W + "Lonely_Page", "title": "Lonely Page", "text": "A page nothing links to."},
]
LINKS = [
    {"url": W + "Alpha_Town", "title": "Alpha Town", "links": [{"title": "Beta River", "url": W + "Beta_River"}]},
    {"url": W + "Beta_River", "title": "Beta River", "links": [{"title": "Gamma Hills", "url": W + "Gamma_Hills"}]},
    {"url": W + "Gamma_Hills", "title": "Gamma Hills", "links": []},
    {"url": W + "Lonely_Page", "title": "Lonely Page", "links": []},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def task_of(req: GenRequest) -> str:
    text = req.messages[-1]["content"] if req.messages else ""
    if text.startswith("TASK: "):
        return text.split("\n", 1)[0][len("TASK: ") :]
    if "Candidate answer:" in text:
        return "judge"
    raise AssertionError(f"unexpected prompt: {text[:200]}")


def question_of(req: GenRequest) -> str:
    """The question a prompt is about (its 'Question:' or 'Current question:' line)."""
    for line in req.messages[-1]["content"].splitlines():
        for tag in ("Current question: ", "Question: "):
            if line.startswith(tag):
                return line[len(tag) :]
    return ""


class Router:
    """A model whose reply is picked by task; a value is a JSON-able object, a string, or a callable."""

    def __init__(self, **replies: object) -> None:
        self.replies = replies
        self.calls: Counter[str] = Counter()
        self.engine = ScriptedEngine([self._reply], repeat_last=True)

    def _reply(self, req: GenRequest) -> str:
        task = task_of(req)
        self.calls[task] += 1
        if task not in self.replies:
            raise AssertionError(f"no scripted reply for task {task!r}")
        r = self.replies[task]
        if isinstance(r, Callable):  # type: ignore[arg-type]
            r = r(req)
        return r if isinstance(r, str) else json.dumps(r)


BASE_Q = "Which town was founded in 1820?"
HARD_Q = "Which town, on a river rising in a range of low hills, was founded in 1820?"


def happy_replies(**override: object) -> dict[str, object]:
    """Replies for: base question (solved without tools), inject from Beta River (unsolved), stop."""
    actions = iter(
        [{"action": "inject", "target": "Beta River", "note": "add the river"}, {"action": "stop", "note": "hard now"}]
    )

    def answer(req: GenRequest) -> dict:
        return {"answer": "Delta City" if "river" in question_of(req) else "Alpha Town"}

    replies: dict[str, object] = {
        "extract-facts": {"facts": ["Alpha Town was founded in 1820.", "The Beta River rises in the Gamma Hills."]},
        "propose-question": {"question": BASE_Q, "answer": "Alpha Town", "fact": "Alpha Town was founded in 1820."},
        "check-valid": {"valid": True, "reason": "fine"},
        "answer": answer,
        "judge": "Rationale: different town.\nVerdict: incorrect",
        "choose-action": lambda req: next(actions),
        "inject-fact": {"question": HARD_Q, "answer": "Alpha Town", "fact": "The Beta River rises in the Gamma Hills."},
        "check-alternative": {"also_correct": False, "reason": "Delta City is not on the Beta River"},
    }
    replies.update(override)
    return replies
