"""Running a parsed action's tool. Each episode gets its own tool state first
(`asearcher.tools.episode_tools`): the access tool remembers which chunk of each page an episode has
read, so concurrent episodes must not share it.
"""

from __future__ import annotations

import time
from typing import Any

from asearcher.api import Tool, ToolResult


ARGUMENT_NAMES = {"search": "query", "access": "url"}


async def arun_tool(tools: dict[str, Tool], action: str, argument: str) -> tuple[ToolResult, float]:
    """Call the tool for `action` with its one argument; returns the result and the time taken.

    A tool the agent was not given becomes an ok=False result the model reads (its mistake); an
    exception inside a tool is our bug and propagates.
    """
    tool = tools.get(action)
    if tool is None:
        return ToolResult(f"The {action} tool is not available here.", ok=False), 0.0
    start = time.perf_counter()
    result = await tool.acall(**{ARGUMENT_NAMES[action]: argument})
    return result, time.perf_counter() - start


def hit_titles(data: dict[str, Any]) -> list[str]:
    """Titles of the hits in a search result's payload, for the trace and the history."""
    titles = []
    for h in data.get("hits", []) or []:
        if isinstance(h, dict):
            titles.append(str(h.get("title") or h.get("url") or h.get("id") or "?"))
        else:
            passage = getattr(h, "passage", h)
            titles.append(str(getattr(passage, "title", "") or getattr(passage, "url", "?")))
    return titles
