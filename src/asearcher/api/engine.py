"""Inference-engine protocol: token ids (or chat messages) in; ids, text, logprobs and versions out.

Implementations live in `asearcher.engines`: OpenAI-compatible HTTP, in-process transformers, a
scripted engine for tests, and (scale-out) vLLM / SGLang. The RL code relies on three promises:
`output_ids` are exactly the sampled tokens (no re-tokenisation), `logprobs[i]` is the behaviour
log-probability of `output_ids[i]`, and `versions[i]` is the policy version that sampled it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "abort"]


@runtime_checkable
class Tokenizer(Protocol):
    """The few tokenizer operations the agents need (an adapter over a HF tokenizer)."""

    eos_token_id: int | None

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without adding special tokens."""
        ...

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, special tokens kept (the agent parses tags from it)."""
        ...

    def chat_ids(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of a chat rendered by the model's chat template."""
        ...


@dataclass(slots=True)
class GenRequest:
    """One generation call.

    Attributes:
        input_ids: the full context as token ids (token-in/token-out mode; used for training).
        messages: chat messages instead of ids (for servers with no tokenizer available here).
            Exactly one of `input_ids` and `messages` is set.
        max_new_tokens: cap on generated tokens.
        temperature: sampling temperature; 0 means greedy.
        top_p: nucleus sampling mass.
        stop: strings that end generation; the stop string is included in the output.
        seed: sampling seed, where the engine supports one.
        rid: request id; engines that route (several servers) keep one trajectory on one server
            by this id, and `abort` takes it.
        tools: OpenAI `tools` list for native function calling (messages mode only).
    """

    input_ids: list[int] | None = None
    messages: list[dict[str, Any]] | None = None
    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    rid: str | None = None
    tools: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if (self.input_ids is None) == (self.messages is None):
            raise ValueError("GenRequest needs exactly one of input_ids and messages")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass(slots=True)
class GenResult:
    """What an engine generated.

    Attributes:
        output_ids: sampled token ids (empty when the engine cannot report ids, e.g. a hosted chat
            API; such results cannot be trained on).
        text: decoded text of the output.
        logprobs: behaviour log-probability of each output id (same length as output_ids; empty
            when the server does not report logprobs).
        versions: policy version that sampled each output id. An interrupted-and-resumed
            generation holds tokens of several versions.
        finish_reason: "stop" (EOS or a stop string), "length" (max_new_tokens) or "abort".
        tool_calls: native function calls the model made (OpenAI format), if any.
        latency_s: wall time of the call.
    """

    output_ids: list[int]
    text: str
    logprobs: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    latency_s: float = 0.0


@runtime_checkable
class InferenceEngine(Protocol):
    """Generates text. `version` is the policy version of the weights now loaded (0 at start)."""

    tokenizer: Tokenizer | None
    version: int

    async def agenerate(self, request: GenRequest) -> GenResult:
        """Generate one completion for `request`.

        Raises ContextLimitError when the request does not fit the engine's context window.
        Engines may also offer `async acontext_length() -> int | None`: the most tokens (prompt plus
        output) one request may hold, None when unknown; callers clip their budgets to it.
        """
        ...


class ContextLimitError(RuntimeError):
    """The request does not fit the engine's context window (prompt + output > its context length).

    A limit of the model or its server, not a bug: an agent ends the episode with stop reason
    `context_limit` instead of failing the run.
    """
