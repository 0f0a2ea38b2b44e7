"""Contracts shared by every stage: typed records and small Protocols. Imports nothing heavy.

Data flows one way (see docs/architecture.md):
corpus -> retrieval -> tools -> agent -> trajectory -> reward -> rollout -> trainer -> engines.
"""

from asearcher.api.agent import Agent
from asearcher.api.documents import Hit, Page, Passage
from asearcher.api.engine import ContextLimitError, GenRequest, GenResult, InferenceEngine, Tokenizer
from asearcher.api.retriever import PageStore, Retriever
from asearcher.api.tool import Tool, ToolResult
from asearcher.api.trajectory import Segment, StopReason, Trajectory, Turn

__all__ = [
    "Agent",
    "ContextLimitError",
    "GenRequest",
    "GenResult",
    "Hit",
    "InferenceEngine",
    "Page",
    "PageStore",
    "Passage",
    "Retriever",
    "Segment",
    "StopReason",
    "Tokenizer",
    "Tool",
    "ToolResult",
    "Trajectory",
    "Turn",
]
