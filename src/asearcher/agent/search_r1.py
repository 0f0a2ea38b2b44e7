"""Search-R1's agent format, for baselines: <think>, <search> query </search>, results inside
<information>, <answer>. It is the append-only loop of `BaseAgent` with Search-R1's prompt, search
as the only tool, and no note-taking instruction after results.
"""

from __future__ import annotations

from typing import Any

from asearcher.agent import prompts
from asearcher.agent.base import BaseAgent


class SearchR1Agent(BaseAgent):
    """Search-R1 (search + answer only)."""

    name = "search-r1"
    actions = ("search", "answer")

    def prompt_messages(self, question: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": prompts.SEARCH_R1_PROMPT.format(question=question)}]

    def observation_frame(self, ok_result: bool) -> tuple[str, str]:
        return prompts.SEARCH_R1_OBS_HEAD, prompts.SEARCH_R1_OBS_TAIL
