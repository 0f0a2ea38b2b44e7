"""Scripted replies for fact questions (corpus/facts.py): the weak and the strong strategy.

Both read only what the agent's context shows (the question, search hits, pages read); neither
sees the gold. `fact_reply` returns the next reply given the decoded context (ExpertEngine calls it).

    weak:   <search>sentence</search> -> [<access>hit 1 URL</access> when `read`] -> <answer>
            the answer is the blank as filled in by hit 1's snippet (or the page read), else a guess
    strong: <search>sentence</search> -> answer from whichever snippet fills the blank; else read
            the unread hits in rank order (at most `MAX_READS`), answering once a page fills it

A two-hop question repeats this per hop: the first hop's span X is not answered but searched
together with the second sentence ("<search>X second sentence</search>").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asearcher.corpus.facts import BLANK

MAX_READS = 2
_WORD = re.compile(r"\w+")
_INFO = re.compile(r"<information>\n?(.*?)\n?</information>", re.DOTALL)
# A hit as `tools.search_tool.format_hits` renders it ("numbered" style).
_HIT = re.compile(r"^\[(\d+)\] ([^\n]*)\nURL: (\S+)\n(.*?)(?=\n\n\[\d+\] |\Z)", re.MULTILINE | re.DOTALL)
_PAGE = re.compile(r"^Page: .*\nURL: (\S+)\n", re.MULTILINE)
_YEAR = re.compile(r"\b(1\d{3}|20[0-2]\d)\b")


@dataclass(slots=True)
class Hit:
    title: str
    url: str
    text: str


def fill_blank(cloze: str, text: str, kind: str) -> str | None:
    """The span of `text` that fills the blank of `cloze`, or None when `text` does not show it.

    Matches a few words either side of the blank, ignoring punctuation and spacing between them.

    >>> fill_blank('The tower was completed in ___.', 'Built by Eiffel, the tower was completed in 1889.', 'year')
    '1889'
    >>> fill_blank('The painting by ___ hangs in Paris.', 'The painting by Leonardo da Vinci hangs in Paris.', 'name')
    'Leonardo da Vinci'
    """
    left, _, right = cloze.partition(BLANK)
    lw, rw = _WORD.findall(left)[-4:], _WORD.findall(right)[:3]
    if len(lw) + len(rw) < 2:
        return None
    if kind == "year":
        span = r"(\d{4})"
    elif rw:
        span = r"(\w[^\n]{0,80}?)"
    else:  # nothing after the blank to stop a lazy match: take up to the next punctuation
        span = r"(\w[^.,;:!?()\n]{0,80})"
    sep = r"\W+"
    pattern = (sep.join(map(re.escape, lw)) + sep if lw else r"\b") + span + (sep + sep.join(map(re.escape, rw))
                                                                             if rw else "")
    m = re.search(pattern, text)
    return m.group(1).strip() if m else None


@dataclass(slots=True)
class _Hop:
    """One search and the pages read after it (before the next search)."""

    hits: list[Hit]
    pages: dict[str, str]


def _episode(question: str, context: str) -> list[_Hop]:
    """The searches so far after the question in `context`, each with the pages read after it."""
    start = context.rfind(question)
    hops: list[_Hop] = []
    for block in _INFO.findall(context[start + len(question):] if start >= 0 else context):
        page = _PAGE.match(block)
        if page and hops:
            hops[-1].pages[page.group(1)] = hops[-1].pages.get(page.group(1), "") + block
            continue
        hits = [Hit(m.group(2).strip(), m.group(3), m.group(4)) for m in _HIT.finditer(block)]
        if hits:
            hops.append(_Hop(hits, {}))
    return hops


def _query(cloze: str) -> str:
    return " ".join(cloze.replace(BLANK, " ").split())


def _guess(kind: str, texts: list[str], hits: list[Hit]) -> str:
    """What a reader who did not find the sentence would say: the first year / hit title shown."""
    if kind == "year":
        years = [m.group(1) for t in texts for m in _YEAR.finditer(t)]
        return years[0] if years else "unknown"
    return hits[0].title if hits else "unknown"


def _hop_step(cloze: str, kind: str, hop: _Hop, *, strong: bool, read: bool, final: bool) -> tuple[str, str]:
    """("access", url) to read on, or ("span", what fills the blank: found, else guessed).

    `final`: no more reading (a forced answer, or a hop already left behind)."""
    if not strong and read and not hop.pages and hop.hits and not final:  # blind: whatever the snippets show
        return "access", hop.hits[0].url
    texts = [*hop.pages.values(), *(h.text for h in (hop.hits if strong else hop.hits[:1]))]
    found = next((a for t in texts if (a := fill_blank(cloze, t, kind))), None)
    if found:
        return "span", found
    unread = [h for h in hop.hits if h.url not in hop.pages]
    if strong and unread and len(hop.pages) < MAX_READS and not final:
        # In rank order: BM25 on the whole sentence ranks its page first (docs/cpu-default.md); a
        # snippet-overlap choice was worse (it favours hits whose first 200 characters look alike).
        return "access", unread[0].url
    return "span", _guess(kind, texts, hop.hits)


def fact_reply(question: str, hops_of_question: list[tuple[str, str]], context: str, *, strong: bool, read: bool,
               forced: bool = False) -> str:
    """The next reply of the weak (`strong=False`) or strong expert; `forced`: only complete an answer.

    `hops_of_question`: `corpus.facts.parse_fact_question(question)`. For a two-hop question the
    first hop's span (X) is searched together with the second sentence."""
    hops = _episode(question, context)
    bridge = ""
    for i, (cloze, kind) in enumerate(hops_of_question):
        last = i == len(hops_of_question) - 1
        if i >= len(hops):
            if forced:
                return _answer(bridge or "unknown", True)
            return f"<search>{(bridge + ' ' + _query(cloze)).strip()}</search>"
        action, value = _hop_step(cloze, kind, hops[i], strong=strong, read=read,
                                  final=forced or i < len(hops) - 1)
        if action == "access":
            return f"<access>{value}</access>"
        if last:
            return _answer(value, forced)
        bridge = value
    raise AssertionError("a fact question has at least one hop")


def _answer(text: str, forced: bool) -> str:
    return f"{text}</answer>" if forced else f"<answer>{text}</answer>"
