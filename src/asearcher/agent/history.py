"""The reasoning agent's compact history: what each step did, shown at the top of every fresh prompt.

Entries keep the action, the hits' titles and URLs (so the model can access them later), page-chunk
stubs instead of the chunks, and the model's own notes; hidden thinking is never stored. Each entry
is cut to `entry_chars`, and the oldest entries are dropped first to keep the whole within
`budget_chars` (the question and protocol live outside the history and are always shown).
"""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.agent import prompts


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


@dataclass(slots=True)
class Entry:
    """One history line: step number, kind ("search", "access", "rejected", "invalid") and text."""

    step: int
    kind: str
    text: str


class History:
    """Compact, budgeted record of an episode's steps."""

    def __init__(self, budget_chars: int, entry_chars: int) -> None:
        self.budget_chars = budget_chars
        self.entry_chars = entry_chars
        self.entries: list[Entry] = []

    def add(self, step: int, kind: str, text: str) -> None:
        """Record a step (the text is clipped to the entry budget now)."""
        self.entries.append(Entry(step, kind, clip(text, self.entry_chars)))

    def render(self) -> str:
        """The newest entries that fit the budget, oldest first, with a note on what was dropped."""
        lines: list[str] = []
        used = 0
        for e in reversed(self.entries):
            line = f"Step {e.step + 1} ({e.kind}): {e.text}"
            if used + len(line) > self.budget_chars and lines:
                break
            lines.append(line)
            used += len(line) + 1
        dropped = len(self.entries) - len(lines)
        if not lines:
            return prompts.EMPTY_HISTORY
        head = [f"({dropped} earlier step(s) omitted)"] if dropped else []
        return "\n".join(head + lines[::-1])
