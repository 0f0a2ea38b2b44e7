"""Token contexts: the append-only segment with its budget, and one-call segments for fresh prompts.

Invariant of `TokenContext`: `segment.token_ids` is exactly what the engine saw on the last request
plus what it sampled since; earlier text is never re-tokenised (what makes the trainer's ids and
logprobs identical to the engine's). New text (observations, injections) is tokenised on its own and
appended as ids. `replace` is the one way to take text out of the context (a page part shown once):
it starts a new segment, so the invariant holds for every segment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from asearcher.api import GenRequest, GenResult, InferenceEngine, Segment, Tokenizer


class TokenContext:
    """An append-only token context in one `Segment`, bounded by `max_tokens`."""

    def __init__(self, tokenizer: Tokenizer, max_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.segment = Segment()
        self.last_body: tuple[int, int] = (0, 0)  # [start, end) of the body `add_bounded` appended last

    @property
    def ids(self) -> list[int]:
        """The ids to send to the engine (a copy: the engine must not see later appends)."""
        return list(self.segment.token_ids)

    @property
    def remaining(self) -> int:
        """Tokens left in the budget."""
        return self.max_tokens - len(self.segment)

    def restart(self, ids: list[int]) -> None:
        """Empty the segment in place and start it again with prompt `ids` (nothing sampled yet)."""
        assert not any(self.segment.loss_mask), "restart would drop sampled tokens"
        seg = self.segment
        seg.token_ids.clear(), seg.loss_mask.clear(), seg.logprobs.clear(), seg.versions.clear()
        seg.append_context(ids)

    def replace(self, span: tuple[int, int], ids: list[int]) -> Segment:
        """Continue in a new segment where the tokens in `span` ([start, end)) are `ids` instead.

        Everything is copied as context (mask 0): what was sampled stays trained, once, in the old
        segment, whose ids are what the engine saw when it sampled them. The old segment records
        `span` in `shown_once`. Returns the new segment (now `self.segment`).
        """
        old, (start, end) = self.segment, span
        if not 0 <= start <= end <= len(old):
            raise ValueError(f"span {span} outside a segment of {len(old)} tokens")
        old.shown_once.append([start, end])
        new = Segment()
        new.append_context(old.token_ids[:start] + list(ids) + old.token_ids[end:])
        self.segment = new
        return new

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
        start = len(self.segment) + len(head_ids)
        self.last_body = (start, start + len(body_ids))
        self.segment.append_context(head_ids + body_ids + tail_ids)
        return cut


def sampling_kwargs(config: Any) -> dict[str, Any]:
    """The GenRequest sampling fields of an AgentConfig."""
    return {"temperature": config.temperature, "top_p": config.top_p, "seed": config.seed}


async def agenerate_chat(
    engine: InferenceEngine, messages: list[dict[str, Any]], new_tokens: Callable[[int], int], **request: Any
) -> tuple[GenResult, Segment | None, float]:
    """One call on a fresh chat prompt: token mode when the engine has a tokenizer, else messages.

    `new_tokens(prompt_tokens)` gives the call's max_new_tokens (the prompt's length is estimated at
    4 characters per token in messages mode). Returns the result, the call's segment (prompt mask 0
    + output mask 1; None in messages mode or when the engine reported no ids) and the generation time.
    """
    tok = engine.tokenizer
    start = time.perf_counter()
    if tok is None:
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        request["max_new_tokens"] = max(1, new_tokens(chars // 4))
        result = await engine.agenerate(GenRequest(messages=messages, **request))
        return result, None, time.perf_counter() - start
    prompt_ids = tok.chat_ids(messages, add_generation_prompt=True)
    request["max_new_tokens"] = max(1, new_tokens(len(prompt_ids)))
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
