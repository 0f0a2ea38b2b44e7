"""`RoutedEngine`: one `InferenceEngine` over several servers (scale-out rollout).

- Affinity: every turn of one trajectory (same `GenRequest.rid`, or same `key_fn(rid)`) goes to the
  same server, so its prefix cache holds the trajectory's context from the previous turns.
- A new trajectory goes to the healthy server with the fewest requests in flight.
- A server whose call fails with a transport-level error (`EngineUnavailable`, httpx transport
  errors, `ConnectionError`) is marked unhealthy and the request is retried on another one from
  scratch with the same full context (agents send full token contexts each turn, so this is safe; the
  dead server's partial output is lost). Health checks (`ahealth()`, where an engine has one) bring
  unhealthy servers back.
- `aupdate_weights` fans out to every server and switches the router's `version` only when all
  succeeded; a server whose update failed is kept out of rotation until a later update succeeds on
  it (it would otherwise serve stale weights under a fresh version).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from asearcher.api.engine import GenRequest, GenResult, InferenceEngine
from asearcher.engines.limits import aengine_context_length
from asearcher.engines.remote import EngineUnavailable

log = logging.getLogger(__name__)

# Errors that mean "this server is gone", not "this request is bad": only these trigger a retry.
SERVER_ERRORS = (EngineUnavailable, httpx.TransportError, ConnectionError)


class NoHealthyEngine(EngineUnavailable):
    """Every server is unhealthy or out of rotation."""


class WeightUpdateError(RuntimeError):
    """Some servers failed to load the new weights; the router's version was not switched."""


class RoutedEngine:
    """Route requests over `engines` (any `InferenceEngine`s: VLLMEngine, SGLangEngine, ...).

    Args:
        engines: the servers; at least one.
        health_interval_s: seconds between health checks of all servers (0: no background checks).
        key_fn: trajectory key of a request id (default: the whole rid; agents reuse one rid per
            trajectory).
        max_attempts: servers tried for one request before giving up.
        max_affinity: trajectory -> server entries remembered (least recently used dropped).
    """

    def __init__(
        self,
        engines: list[InferenceEngine],
        *,
        health_interval_s: float = 10.0,
        key_fn: Callable[[str], str] = lambda rid: rid,
        max_attempts: int = 3,
        max_affinity: int = 100_000,
    ) -> None:
        if not engines:
            raise ValueError("RoutedEngine needs at least one engine")
        self.engines = list(engines)
        self.tokenizer = engines[0].tokenizer
        self.version = max(e.version for e in engines)
        self.health_interval_s = health_interval_s
        self.key_fn = key_fn
        self.max_attempts = max_attempts
        self.max_affinity = max_affinity
        self.healthy = [True] * len(engines)
        self.stale = [False] * len(engines)  # failed the last weight update
        self.load = [0] * len(engines)
        self._affinity: OrderedDict[str, int] = OrderedDict()
        self._running: dict[str, int] = {}  # rid -> engine index, for abort
        self._health_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"RoutedEngine({len(self.engines)} engines, version={self.version}, healthy={self.healthy})"

    # ---- generation -------------------------------------------------------------------------

    async def agenerate(self, request: GenRequest) -> GenResult:
        """Generate on the trajectory's server; on a server failure, retry on another one."""
        self._ensure_health_checks()
        if request.rid is None:
            request.rid = uuid.uuid4().hex
        key = self.key_fn(request.rid)
        tried: set[int] = set()
        while True:
            idx = await self._apick(key, tried)
            tried.add(idx)
            self.load[idx] += 1
            self._running[request.rid] = idx
            try:
                return await self.engines[idx].agenerate(request)
            except SERVER_ERRORS as exc:
                self._mark_unhealthy(idx, exc)
                self._affinity.pop(key, None)
                if len(tried) >= self.max_attempts:
                    raise
                log.warning("retrying %s on another server after %s failed", request.rid, self._name(idx))
            finally:
                self.load[idx] -= 1
                self._running.pop(request.rid, None)

    async def acontext_length(self) -> int | None:
        """The smallest context length the servers state (a trajectory may land on any of them)."""
        known = [n for e in self.engines if (n := await aengine_context_length(e)) is not None]
        return min(known) if known else None

    def abort(self, rid: str) -> bool:
        """Abort request `rid` on the server running it (see the engines' `abort`)."""
        idx = self._running.get(rid)
        engine = self.engines[idx] if idx is not None else None
        return bool(engine is not None and hasattr(engine, "abort") and engine.abort(rid))

    def _routable(self, idx: int) -> bool:
        return self.healthy[idx] and not self.stale[idx]

    async def _apick(self, key: str, tried: set[int]) -> int:
        idx = self._affinity.get(key)
        if idx is not None and idx not in tried and self._routable(idx):
            self._affinity.move_to_end(key)
            return idx
        candidates = [i for i in range(len(self.engines)) if self._routable(i) and i not in tried]
        if not candidates:
            await self.acheck_health()  # maybe a server came back since the last check
            candidates = [i for i in range(len(self.engines)) if self._routable(i) and i not in tried]
        if not candidates:
            raise NoHealthyEngine(f"no healthy server left for {key!r} ({self!r})")
        idx = min(candidates, key=lambda i: self.load[i])
        self._affinity[key] = idx
        self._affinity.move_to_end(key)
        while len(self._affinity) > self.max_affinity:
            self._affinity.popitem(last=False)
        return idx

    def _mark_unhealthy(self, idx: int, exc: BaseException) -> None:
        if self.healthy[idx]:
            log.warning("%s marked unhealthy: %s", self._name(idx), exc)
        self.healthy[idx] = False

    def _name(self, idx: int) -> str:
        return f"server {idx} ({self.engines[idx]!r})"

    # ---- health -----------------------------------------------------------------------------

    async def acheck_health(self) -> list[bool]:
        """Check every server now (engines without `ahealth` count as healthy); returns the flags."""

        async def one(engine: Any) -> bool:
            check = getattr(engine, "ahealth", None)
            if check is None:
                return True
            try:
                return bool(await check())
            except Exception as exc:  # a health probe must never take the router down
                log.debug("health check of %r raised %s", engine, exc)
                return False

        results = await asyncio.gather(*(one(e) for e in self.engines))
        for idx, ok in enumerate(results):
            if ok and not self.healthy[idx]:
                log.info("%s is healthy again", self._name(idx))
            self.healthy[idx] = ok
        return list(self.healthy)

    def _ensure_health_checks(self) -> None:
        if self.health_interval_s <= 0:
            return
        running = asyncio.get_running_loop()
        if self._health_task is None or self._health_task.done() or self._health_task.get_loop() is not running:
            self._health_task = running.create_task(self._ahealth_loop(), name="router-health")

    async def _ahealth_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            await self.acheck_health()

    # ---- weights ----------------------------------------------------------------------------

    async def aupdate_weights(self, source: str | Path, version: int) -> None:
        """Update every server (concurrently); switch `version` only if all succeeded, else raise
        `WeightUpdateError` and keep the failed servers out of rotation."""
        start = time.perf_counter()
        results = await asyncio.gather(
            *(e.aupdate_weights(source, version) for e in self.engines), return_exceptions=True
        )
        failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
        for i in range(len(self.engines)):
            self.stale[i] = any(i == j for j, _ in failed)
        if failed:
            detail = "; ".join(f"{self._name(i)}: {type(r).__name__}: {r}" for i, r in failed)
            raise WeightUpdateError(f"weight update to version {version} failed on {len(failed)} server(s): {detail}")
        self.version = version
        log.info("all %d servers at version %d (%.2f s)", len(self.engines), version, time.perf_counter() - start)

    async def aclose(self) -> None:
        """Stop health checks and close every engine that can be closed."""
        if self._health_task is not None:
            self._health_task.cancel()
            try:
                await self._health_task
            except (asyncio.CancelledError, RuntimeError):
                pass
            self._health_task = None
        for engine in self.engines:
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()
