"""Tool protocol: name, description, JSON-schema arguments, async call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class ToolResult:
    """What a tool returns to the agent.

    Attributes:
        text: the observation shown to the model.
        ok: False when the call failed in a way the *model* caused or the world caused (empty
            query, unknown URL, timeout, HTTP error); the text then explains the failure. Bugs in
            our own code raise instead of returning ok=False.
        data: structured payload for logging and the trace (hits, page url, chunk index, ...).
    """

    text: str
    ok: bool = True
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Tool(Protocol):
    """A tool the agent can call."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the keyword arguments (OpenAI `tools` format)

    async def acall(self, **kwargs: Any) -> ToolResult:
        """Run the tool. Failures the model can learn from come back as `ToolResult(ok=False)`."""
        ...
