"""Shared client logic of the remote rollout engines (`VLLMEngine`, `SGLangEngine`).

What they share is the policy-version bookkeeping of partial rollouts: a gate that holds new work
while the server's weights change, and the loop in `agenerate` that resubmits prompt + partial output
after an update interrupted a generation. The invariant that makes per-token versions exact: weights
only change while no chunk of ours is running on the server (an update first interrupts every
chunk, waits until all have returned, and only then loads), so every token of one chunk was sampled
by the weights that were loaded when that chunk was submitted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from asearcher.api.engine import FinishReason, GenRequest, GenResult
from asearcher.engines.config import EngineConfig
from asearcher.engines.limits import context_length_from_models
from asearcher.engines.openai_http import HTTPEngineError, apost_json
from asearcher.engines.server_process import ServerProcess
from asearcher.redact import redact_text

log = logging.getLogger(__name__)


class EngineUnavailable(HTTPEngineError):
    """The server could not be reached or kept failing (transport errors, 5xx): a router may retry the
    request on another server."""


@dataclass(slots=True)
class Chunk:
    """What one server call produced: sampled ids, their logprobs, the server's text and why it ended."""

    ids: list[int]
    logprobs: list[float]
    text: str
    finish: FinishReason


@dataclass(eq=False)
class Call:
    """One `agenerate` in flight. `chunk_rid` is the server-side id of its current chunk."""

    rid: str
    chunk_rid: str = ""
    user_aborted: bool = False
    interrupted: bool = False  # set by a weight update: the abort is ours, resubmit afterwards
    task: asyncio.Task | None = None  # the running chunk (cancelled to abort a streaming request)


class ResumableRemoteEngine:
    """Base class: subclasses implement `_agenerate_chunk`, `_ainterrupt_all`, `_aabort_chunk`,
    `_aload_weights` and `ahealth`; this class does versions, the update gate and resumption."""

    kind = "remote"

    def __init__(self, base_url: str, config: EngineConfig | None = None, tokenizer: Any = None,
                 owned_server: ServerProcess | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config or EngineConfig()
        self.tokenizer = tokenizer
        self.owned_server = owned_server  # a server this engine launched and stops in `aclose` (engine.launch)
        self.version = 0
        self._calls: dict[str, list[Call]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_text(self.base_url)!r}, version={self.version})"

    # ---- per-event-loop state ------------------------------------------------------------------

    def _state(self) -> None:
        """(Re)create the asyncio primitives and the HTTP client on the running loop (tests run each
        test on a fresh loop; objects bound to a closed loop cannot be reused)."""
        running = asyncio.get_running_loop()
        if self._loop is running:
            return
        self._loop = running
        self._open = asyncio.Event()  # set: no weight update running
        self._open.set()
        self._update_lock = asyncio.Lock()
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._drained.set()
        timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
        self._client = httpx.AsyncClient(timeout=timeout)

    @property
    def client(self) -> httpx.AsyncClient:
        self._state()
        return self._client  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Close the HTTP connections (and stop the server if this engine launched it)."""
        if self._client is not None:
            await self._client.aclose()
            self._client, self._loop = None, None
        if self.owned_server is not None:
            self.owned_server.stop()

    # ---- public API ---------------------------------------------------------------------------

    async def agenerate(self, request: GenRequest) -> GenResult:
        """Generate for `request` (token ids, or messages rendered by the local tokenizer).

        A weight update in the middle interrupts the server call; the tokens so far are kept and
        prompt + partial output is resubmitted under the new weights (tokens carry their versions).
        """
        self._state()
        start = time.perf_counter()
        prompt = self._prompt(request)
        call = Call(rid=request.rid or uuid.uuid4().hex)
        self._calls.setdefault(call.rid, []).append(call)
        ids: list[int] = []
        logprobs: list[float] = []
        versions: list[int] = []
        texts: list[str] = []
        finish: FinishReason = "abort"
        try:
            while not call.user_aborted:
                # Re-check after waking: another update may have closed the gate again meanwhile.
                # From the check to the chunk's registration in `_arun_chunk` nothing awaits, so an
                # update cannot slip in between.
                while not self._open.is_set():
                    await self._open.wait()
                budget = request.max_new_tokens - len(ids)
                if budget <= 0:
                    finish = "length"
                    break
                version = self.version
                call.interrupted = False
                call.chunk_rid = f"{call.rid}-{uuid.uuid4().hex[:8]}"
                chunk = await self._arun_chunk(call, prompt + ids, budget, request)
                ids += chunk.ids
                logprobs += chunk.logprobs
                versions += [version] * len(chunk.ids)
                texts.append(chunk.text)
                finish = chunk.finish
                if finish != "abort" or not call.interrupted or call.user_aborted:
                    break
                log.debug("%s: %s interrupted after %d tokens; resuming", self, call.rid, len(ids))
        finally:
            self._calls[call.rid].remove(call)
            if not self._calls[call.rid]:
                del self._calls[call.rid]
        text = self.tokenizer.decode(ids) if (self.tokenizer is not None and ids) else "".join(texts)
        return GenResult(
            output_ids=ids,
            text=text,
            logprobs=logprobs if len(logprobs) == len(ids) else [],
            versions=versions,
            finish_reason=finish,
            latency_s=time.perf_counter() - start,
        )

    def abort(self, rid: str) -> bool:
        """Stop request(s) `rid`; their `agenerate` returns the partial output, finish_reason "abort".
        Returns False when no such request is in flight."""
        calls = self._calls.get(rid, [])
        for call in calls:
            call.user_aborted = True
            asyncio.ensure_future(self._aabort_chunk(call))
        return bool(calls)

    async def aupdate_weights(self, source: str | Path, version: int) -> None:
        """Load new weights on the server and set `version`.

        Holds new chunks, interrupts the running ones, waits until none is on the server, loads,
        then lets the interrupted generations resume. On failure `version` is unchanged and the
        interrupted generations resume under the old weights.
        """
        await self._aswap(lambda: self._aload_weights(source, version), version)

    async def _aswap(self, load: Callable[[], Awaitable[None]], version: int) -> None:
        """The update protocol around any loading step (from disk, over NCCL, ...)."""
        self._state()
        async with self._update_lock:
            start = time.perf_counter()
            self._open.clear()
            try:
                for calls in self._calls.values():
                    for call in calls:
                        call.interrupted = True
                await self._adrain()
                await load()
                self.version = version
            finally:
                self._open.set()
            log.info("%s: weights updated to version %d in %.2f s", self, version, time.perf_counter() - start)

    # ---- helpers ------------------------------------------------------------------------------

    def _prompt(self, request: GenRequest) -> list[int]:
        if request.tools:
            raise ValueError(f"{type(self).__name__} is token-in/token-out; put tools in the prompt")
        if request.input_ids is not None:
            prompt = list(request.input_ids)
        elif self.tokenizer is not None:
            prompt = self.tokenizer.chat_ids(request.messages)
        else:
            raise ValueError(f"{type(self).__name__} needs input_ids, or a tokenizer to render messages")
        if not prompt:
            raise ValueError("empty prompt")
        return prompt

    async def _arun_chunk(self, call: Call, ids: list[int], budget: int, request: GenRequest) -> Chunk:
        """Run one server call, counted so that an update can wait until none is running."""
        self._in_flight += 1
        self._drained.clear()
        try:
            # A task of its own, so that an abort can cancel just this chunk: the chunk coroutine
            # catches the cancel and returns its partial output with finish "abort".
            call.task = asyncio.ensure_future(self._agenerate_chunk(call, ids, budget, request))
            try:
                chunk = await call.task
            except asyncio.CancelledError:
                if not _current_task_cancelling():  # cancelled before it ran: nothing sampled
                    return Chunk([], [], "", "abort")
                raise
            if _current_task_cancelling():
                # Our caller was cancelled while the chunk swallowed the cancel to return its partial
                # output: the caller's cancellation must still win.
                raise asyncio.CancelledError
            return chunk
        finally:
            call.task = None
            self._in_flight -= 1
            if self._in_flight == 0:
                self._drained.set()

    async def _adrain(self) -> None:
        """Interrupt every running chunk and wait until none is left on the server. Interrupts are
        re-sent while waiting: a chunk whose request was still on the wire may have missed the first."""
        while self._in_flight:
            await self._ainterrupt_all()
            try:
                await asyncio.wait_for(self._drained.wait(), timeout=0.5)
            except TimeoutError:
                log.info("%s: waiting for %d interrupted requests", self, self._in_flight)

    async def _apost(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON with bounded retries on transport errors and 5xx (EngineUnavailable after); a 4xx
        raises HTTPEngineError with the server's message."""
        return await apost_json(self.client, self.base_url + path, body, retries=self.config.retries,
                                backoff_s=self.config.retry_backoff_s, exhausted=EngineUnavailable)

    async def acontext_length(self) -> int | None:
        """`max_model_len` from the server's /v1/models (vLLM and SGLang list it); None when it does not tell."""
        if not hasattr(self, "_context_length"):
            try:
                resp = await self.client.get(self.base_url + "/v1/models", timeout=self.config.connect_timeout_s)
                found = context_length_from_models(resp.json(), self.config.model) if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as e:
                log.debug("%s/v1/models: %s", self.base_url, e)
                found = None
            self._context_length = found
        return self._context_length

    async def ahealth(self) -> bool:
        """Whether the server answers its health endpoint (GET /health, 200)."""
        try:
            resp = await self.client.get(self.base_url + "/health", timeout=5.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    # ---- subclass hooks -----------------------------------------------------------------------

    async def _agenerate_chunk(self, call: Call, ids: list[int], budget: int, request: GenRequest) -> Chunk:
        raise NotImplementedError

    async def _ainterrupt_all(self) -> None:
        """Make every running chunk return soon with finish "abort" and its partial output."""
        raise NotImplementedError

    async def _aabort_chunk(self, call: Call) -> None:
        """Make `call`'s running chunk return soon with finish "abort"."""
        raise NotImplementedError

    async def _aload_weights(self, source: str | Path, version: int) -> None:
        raise NotImplementedError


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())
