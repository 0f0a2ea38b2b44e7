"""The trajectory record: what one agent episode produced, for training, evaluation and `ask`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class StopReason(str, Enum):
    """Why an episode ended."""

    ANSWERED = "answered"  # the model gave an answer (possibly forced at the budget)
    TURN_LIMIT = "turn_limit"  # max turns reached without an answer
    TOKEN_BUDGET = "token_budget"  # context or generation budget exhausted without an answer
    CONTEXT_LIMIT = "context_limit"  # the engine refused the request: it exceeds its context window
    ERROR = "error"  # the engine (or a server behind a tool) failed; the record names the error
    TIMEOUT = "timeout"  # the episode ran past its wall-clock cap
    ABORTED = "aborted"  # cancelled from outside (shutdown, rollout dropped)


@dataclass(slots=True)
class Segment:
    """One token sequence as the trainer sees it.

    The append-only (base-model) agent produces one segment per episode, plus one more each time
    it replaces a page part shown once by its stub; the reasoning agent builds a fresh prompt every
    step and so produces one segment per LLM call.

    Attributes:
        token_ids: prompt followed by everything appended after it (sampled text, tool output,
            injected text), exactly the ids the engine saw: never re-tokenised.
        loss_mask: 1 for tokens sampled by the policy, 0 for prompt, tool output and injected text.
        logprobs: behaviour log-probability of each token; 0.0 where loss_mask is 0.
        versions: policy version that sampled each token; -1 where loss_mask is 0.
        shown_once: [start, end) spans of tokens shown to the engine in this segment only: later
            context replaced them (the base agent's page parts, by a stub), so the episode goes on
            in a new segment that starts with the same ids up to `start`. Every sampled token has
            loss_mask 1 in exactly one segment; copied tokens are context (mask 0) in the next.
    """

    token_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    shown_once: list[list[int]] = field(default_factory=list)

    def append_context(self, ids: list[int]) -> None:
        """Append tokens the policy did not sample (prompt, observation, injected text)."""
        self.token_ids.extend(ids)
        self.loss_mask.extend([0] * len(ids))
        self.logprobs.extend([0.0] * len(ids))
        self.versions.extend([-1] * len(ids))

    def append_sampled(self, ids: list[int], logprobs: list[float], versions: list[int]) -> None:
        """Append tokens sampled by the policy, with their behaviour logprobs and versions."""
        if not (len(ids) == len(logprobs) == len(versions)):
            raise ValueError(f"sampled ids/logprobs/versions lengths differ: {len(ids)}/{len(logprobs)}/{len(versions)}")
        self.token_ids.extend(ids)
        self.loss_mask.extend([1] * len(ids))
        self.logprobs.extend(logprobs)
        self.versions.extend(versions)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_sampled(self) -> int:
        return sum(self.loss_mask)


@dataclass(slots=True)
class Turn:
    """One agent step: the model's output, the action parsed from it, and the tool's observation.

    Attributes:
        index: 0-based step number.
        output: raw text the model generated this step.
        action: "search", "access", "answer", "none" (no valid action; see `error`), or "read":
            the base agent's turn on one part of a page, where the model wrote notes on it
            (`data["notes"]`; the part is in `observation`, its index in `data["chunk_index"]`).
        argument: the action's argument (query, URL, answer text; the page's URL for "read"),
            None for "none".
        observation: what was shown to the model after the action (None after "answer").
        format_ok: whether the output followed the agent's format (tags balanced, one action).
        error: why the turn was invalid ("" when valid); shown to the model as an observation.
        gen_tokens: number of tokens generated this step.
        gen_time_s: time spent generating.
        tool_time_s: time spent in the tool.
        data: tool payload for the trace (hits, page url, chunk index, ...).
    """

    index: int
    output: str
    action: str
    argument: str | None = None
    observation: str | None = None
    format_ok: bool = True
    error: str = ""
    gen_tokens: int = 0
    gen_time_s: float = 0.0
    tool_time_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Trajectory:
    """A whole episode.

    Attributes:
        qid: question id (from the dataset).
        question: the question text.
        answer: the final answer, None when the episode ended without one.
        stop_reason: why the episode ended.
        turns: per-step records.
        segments: token sequences for training (empty for engines that report no token ids).
        reward: set by the reward function; None until scored, or when the reward skips it.
        gold: gold answer aliases when known (evaluation and training data).
        agent: name of the agent that produced it ("base", "reasoning", "search-r1", ...).
        metadata: free-form extras (timings, group id, sample index, ...).
    """

    qid: str
    question: str
    answer: str | None = None
    stop_reason: StopReason = StopReason.ANSWERED
    turns: list[Turn] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    reward: float | None = None
    gold: list[str] = field(default_factory=list)
    agent: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tool_calls(self) -> int:
        return sum(1 for t in self.turns if t.action in ("search", "access"))

    @property
    def num_searches(self) -> int:
        return sum(1 for t in self.turns if t.action == "search")

    @property
    def num_sampled_tokens(self) -> int:
        return sum(s.num_sampled for s in self.segments)

    @property
    def format_ok(self) -> bool:
        """True when every turn followed the format."""
        return all(t.format_ok for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop_reason"] = self.stop_reason.value
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trajectory:
        d = dict(d)
        d["stop_reason"] = StopReason(d.get("stop_reason", "answered"))
        d["turns"] = [Turn(**t) for t in d.get("turns", [])]
        d["segments"] = [Segment(**s) for s in d.get("segments", [])]
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> Trajectory:
        return cls.from_dict(json.loads(s))
