"""Agent protocol: one episode for one question, the same code for evaluation, training and `ask`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from asearcher.api.trajectory import Trajectory


@runtime_checkable
class Agent(Protocol):
    """Runs episodes. The engine and tools are given to the constructor.

    `arun` returns None to reject an episode (e.g. the engine aborted it for good); tool failures
    never end an episode, they become observations.
    """

    name: str

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        """Answer `question`, returning the whole trajectory."""
        ...
