"""The reasoning agent's history: the record of its work shown in every fresh prompt, in ASearcher's
shape (its QwQ checkpoints were trained on it).

Entries are text blocks, concatenated in order:
- an acting step: the model's thought and its action, "<think>thought</think>\\n\\n<search>query</search>"
  (the visible thought it wrote, never its hidden reasoning);
- a search's results, whole, inside <information> </information>;
- a page part, as its stub only, inside <information> </information>;
- a reading step's notes, "<think>notes</think>";
- an observation for a refused answer or an invalid output, inside <information> </information>.
(observations.py lays the tool blocks out, by the prompt's style.)

Native style: the newest entries that fit `budget_chars` are shown whole; when the newest entry alone
is longer, its last `budget_chars` characters are. ASearcher style (`question_first`), as its agents
build it: the question is the first entry, and the last `budget_chars` characters of all entries
glued together are shown, wherever that cut falls (ASearcher: 25,000).
"""

from __future__ import annotations

from dataclasses import dataclass


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (0 = no limit), marked with an ellipsis when cut."""
    text = text.strip()
    return text if not limit or len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


@dataclass(slots=True)
class Entry:
    """One history block: the step it belongs to, its kind ("act", "results", "page", "notes",
    "observation") and its text."""

    step: int
    kind: str
    text: str


class History:
    """Budgeted record of an episode's steps."""

    def __init__(self, budget_chars: int, entry_chars: int = 0, empty: str = "", question_first: str = "") -> None:
        self.budget_chars = budget_chars
        self.entry_chars = entry_chars
        self.empty = empty
        self.entries: list[Entry] = []
        # ASearcher style: the question opens the history and the cut is a plain character tail.
        self.tail_cut = bool(question_first)
        if question_first:
            self.entries.append(Entry(-1, "question", question_first))

    def add(self, step: int, kind: str, text: str) -> None:
        """Record a block (cut to `entry_chars` when that is set)."""
        if self.entry_chars and len(text) > self.entry_chars:
            text = clip(text, self.entry_chars)
        self.entries.append(Entry(step, kind, text))

    def render(self) -> str:
        """The newest blocks that fit the budget, oldest first ("" blocks: `empty`); in ASearcher
        style the last `budget_chars` characters of all blocks, as they are."""
        if self.tail_cut:
            return "".join(e.text for e in self.entries)[-self.budget_chars :]
        kept: list[str] = []
        used = 0
        for e in reversed(self.entries):
            if used + len(e.text) > self.budget_chars:
                if not kept:  # the newest block alone is too long: keep its end
                    kept.append(e.text[len(e.text) - self.budget_chars :])
                break
            kept.append(e.text)
            used += len(e.text)
        text = "".join(reversed(kept)).strip()
        return text or self.empty
