"""Search-R1's agent format, for baselines: <think>, <search> query </search>, results inside
<information>, <answer>. It is the append-only loop of `BaseAgent` with search as the only tool and
its own prompt ('search-r1' in prompts/builtin.yaml: Search-R1's frame, no instruction after results).
"""

from __future__ import annotations

from asearcher.agent.base import BaseAgent


class SearchR1Agent(BaseAgent):
    """Search-R1 (search + answer only)."""

    name = "search-r1"
    actions = ("search", "answer")
