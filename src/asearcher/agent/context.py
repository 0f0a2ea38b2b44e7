"""Token contexts: the append-only segment with its budget, and one-call segments for fresh prompts.

Invariant of `TokenContext`: `segment.token_ids` is exactly what the engine saw on the last request
plus what it sampled since; earlier text is never re-tokenised (what makes the trainer's ids and
logprobs identical to the engine's). New text (observations, injections) is tokenised on its own and
appended as ids.
"""

from __future__ import annotations

import time
from typing import Any

from asearcher.api import GenRequest, GenResult, InferenceEngine, Segment, Tokenizer


class TokenContext:
    """An append-only token context in one `Segment`, bounded by `max_tokens`."""

    def __init__(self, tokenizer: Tokenizer, max_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.segment = Segment()

    @property
    def ids(self) -> list[int]:
        """The ids to send to the engine (a copy: the engine must not see later appends)."""
        return list(self.segment.token_ids)

    @property
    def remaining(self) -> int:
        """Tokens left in the budget."""
        return self.max_tokens - len(self.segment)

    def add_prompt_ids(self, ids: list[int]) -> None:
        """Append ids the policy did not sample (loss mask 0)."""
        self.segment.append_context(ids)

    def add_text(self, text: str) -> list[int]:
        """Tokenise `text` on its own and append it with loss mask 0; returns the ids."""
        ids = self.tokenizer.encode(text)
        self.segment.append_context(ids)
        return ids

    def add_sampled(self, result: GenResult, version: int) -> None:
        """Append an engine's output exactly as sampled (loss mask 1, its logprobs and versions).

        `version` fills in for engines that report no per-token versions (the engine's version now).
        """
        self.segment.append_sampled(result.output_ids, *_behaviour(result, version))

    def add_bounded(self, head: str, body: str, tail: str, budget: int, cut_note: str = " [...]") -> bool | None:
        """Append head + body + tail in at most `budget` tokens, cutting the body's tokens if needed.

        The head and tail (the <information> tags and the instruction) are always kept whole; returns
        True when the body was cut, False when it fit, None (nothing appended) when not even the head
        and tail fit.
        """
        head_ids, tail_ids = self.tokenizer.encode(head), self.tokenizer.encode(tail)
        body_ids = self.tokenizer.encode(body)
        room = budget - len(head_ids) - len(tail_ids)
        if room < 0:
            return None
        cut = len(body_ids) > room
        if cut:
            note_ids = self.tokenizer.encode(cut_note)
            body_ids = body_ids[: max(0, room - len(note_ids))] + note_ids[: room]
        self.segment.append_context(head_ids + body_ids + tail_ids)
        return cut


def sampling_kwargs(config: Any) -> dict[str, Any]:
    """The GenRequest sampling fields of an AgentConfig."""
    return {"temperature": config.temperature, "top_p": config.top_p, "seed": config.seed}


async def agenerate_chat(
    engine: InferenceEngine, messages: list[dict[str, Any]], **request: Any
) -> tuple[GenResult, Segment | None, float]:
    """One call on a fresh chat prompt: token mode when the engine has a tokenizer, else messages.

    Returns the result, the call's segment (prompt mask 0 + output mask 1; None in messages mode or
    when the engine reported no ids) and the generation time.
    """
    tok = engine.tokenizer
    start = time.perf_counter()
    if tok is None:
        result = await engine.agenerate(GenRequest(messages=messages, **request))
        return result, None, time.perf_counter() - start
    prompt_ids = tok.chat_ids(messages, add_generation_prompt=True)
    result = await engine.agenerate(GenRequest(input_ids=prompt_ids, **request))
    elapsed = time.perf_counter() - start
    if not result.output_ids:
        return result, None, elapsed
    seg = Segment()
    seg.append_context(prompt_ids)
    seg.append_sampled(result.output_ids, *_behaviour(result, engine.version))
    return result, seg, elapsed


def _behaviour(result: GenResult, version: int) -> tuple[list[float], list[int]]:
    """Per-token logprobs and versions of `result`; servers that report none get 0.0 / `version`."""
    n = len(result.output_ids)
    return (result.logprobs or [0.0] * n, result.versions or [version] * n)
