"""A scripted engine for deterministic tests: replies are given in advance, not sampled.

It is a fake of a language model (no model is that predictable), used to test agent loops, masks
and versions exactly. It honours the protocol's promises: output ids are the tokenizer's ids of the
reply, logprobs are fixed per token, versions are the engine's current version, and stop strings cut
the reply as a real engine would (the stop string kept).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from asearcher.api.engine import ContextLimitError, GenRequest, GenResult, Tokenizer
from asearcher.engines.byte_tokenizer import ByteTokenizer

Reply = str | Callable[[GenRequest], str]


class ScriptedEngine:
    """Replies with the next scripted string (or the result of a callable on the request).

    Args:
        replies: replies in order; a callable gets the request (and can look at the context).
        tokenizer: defaults to `ByteTokenizer`.
        logprob: the behaviour logprob reported for every sampled token.
        repeat_last: when the script runs out, repeat the last reply instead of raising.
        context_length: when set, the engine reports it and, like vLLM, refuses a request whose
            prompt plus max_new_tokens exceeds it (ContextLimitError).
    """

    def __init__(
        self,
        replies: Iterable[Reply],
        tokenizer: Tokenizer | None = None,
        logprob: float = -0.5,
        repeat_last: bool = False,
        context_length: int | None = None,
    ) -> None:
        self.replies = list(replies)
        self.tokenizer: Tokenizer | None = tokenizer or ByteTokenizer()
        self.version = 0
        self.logprob = logprob
        self.repeat_last = repeat_last
        self.requests: list[GenRequest] = []  # every request seen, for assertions
        self.context_length = context_length
        self._next = 0

    async def acontext_length(self) -> int | None:
        return self.context_length

    def _reply(self, request: GenRequest) -> str:
        if self._next >= len(self.replies):
            if not (self.repeat_last and self.replies):
                raise RuntimeError(f"ScriptedEngine ran out of replies after {len(self.replies)} calls")
            reply = self.replies[-1]
        else:
            reply = self.replies[self._next]
        self._next += 1
        return reply(request) if callable(reply) else reply

    async def agenerate(self, request: GenRequest) -> GenResult:
        start = time.perf_counter()
        self.requests.append(request)
        if self.context_length is not None and request.input_ids is not None:
            wanted = len(request.input_ids) + request.max_new_tokens
            if wanted > self.context_length:
                raise ContextLimitError(f"This model's maximum context length is {self.context_length} tokens; "
                                        f"the request asks for {wanted}")
        text = self._reply(request)
        finish = "stop"
        cut = [text.find(s) + len(s) for s in request.stop if s and s in text]
        if cut:
            text = text[: min(cut)]
        assert self.tokenizer is not None
        ids = self.tokenizer.encode(text)
        if len(ids) > request.max_new_tokens:
            ids = ids[: request.max_new_tokens]
            text = self.tokenizer.decode(ids)
            finish = "length"
        return GenResult(
            output_ids=ids,
            text=text,
            logprobs=[self.logprob] * len(ids),
            versions=[self.version] * len(ids),
            finish_reason=finish,
            latency_s=time.perf_counter() - start,
        )
