"""Live trace of an episode: what `asearcher ask` prints as each turn completes.

Agents call a `Trace` at fixed points; the default does nothing, `TracePrinter` writes lines a person
can follow (each query, the top hits' titles, pages read with chunk numbers, the model's notes, the
answer).
"""

from __future__ import annotations

import sys
from typing import TextIO

from asearcher.agent.actions import hit_titles
from asearcher.api import Trajectory, Turn


class Trace:
    """Receives an episode's events; this base class ignores them."""

    def start(self, question: str, agent: str) -> None:
        """An episode begins."""

    def turn(self, turn: Turn) -> None:
        """A turn is complete (its tool, if any, has run)."""

    def end(self, trajectory: Trajectory) -> None:
        """The episode is over."""


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TracePrinter(Trace):
    """Prints events as they happen (flushes every line so a pipe shows them live)."""

    def __init__(self, stream: TextIO | None = None, width: int = 240, top_hits: int = 3) -> None:
        self.stream = stream or sys.stdout
        self.width = width
        self.top_hits = top_hits

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def start(self, question: str, agent: str) -> None:
        self._print(f"question: {question}  (agent: {agent})")

    def turn(self, turn: Turn) -> None:
        n = f"[{turn.index + 1}]"
        if turn.data.get("thought"):
            self._print(f"{n} think: {_short(turn.data['thought'], self.width)}")
        if turn.action == "search":
            self._print(f"{n} search: {turn.argument}")
            titles = hit_titles(turn.data)
            if titles:
                self._print(f"    hits: {' | '.join(titles[: self.top_hits])}")
        elif turn.action == "access":
            chunk = turn.data.get("chunk_index")
            of = turn.data.get("num_chunks")
            where = f" (chunk {chunk + 1}{f'/{of}' if of else ''})" if isinstance(chunk, int) else ""
            self._print(f"{n} access: {turn.argument}{where}")
        elif turn.action == "read":
            chunk, of = turn.data.get("chunk_index", 0), turn.data.get("num_chunks", "?")
            self._print(f"{n} read: {turn.argument} (part {chunk + 1}/{of})")
        elif turn.action == "answer" and turn.error:
            self._print(f"{n} answer (rejected): {turn.argument}")
        if turn.error and turn.action == "none":
            self._print(f"{n} invalid: {_short(turn.error, self.width)}")
        elif turn.error and turn.action != "answer":  # the action ran, but its format was off
            self._print(f"    format: {_short(turn.error, self.width)}")
        elif turn.observation is not None and turn.data.get("tool_ok") is False:
            self._print(f"    tool error: {_short(turn.observation, self.width)}")
        if turn.data.get("notes"):
            by = " (summary model)" if turn.data.get("notes_by") == "summary" else ""
            self._print(f"    notes{by}: {_short(turn.data['notes'], self.width)}")

    def end(self, trajectory: Trajectory) -> None:
        answer = trajectory.answer if trajectory.answer is not None else "(no answer)"
        self._print(f"answer: {answer}")
        self._print(
            f"  ({len(trajectory.turns)} turns, {trajectory.num_searches} searches, "
            f"{trajectory.num_tool_calls - trajectory.num_searches} page reads, stop: {trajectory.stop_reason.value})"
        )
