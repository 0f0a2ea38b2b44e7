"""Dynamic micro-batching of search queries, as inference servers batch requests.

Concurrent HTTP requests each submit their queries to one `MicroBatcher`; a worker task drains
everything waiting (up to `max_batch`), runs `retriever.batch_search` once per distinct `topk` in
a worker thread, and resolves each query's future. A batch that raises is searched again query
by query, so an error reaches only the caller whose query causes it. While a batch runs, new
queries pile up in the queue and form the next batch, so the batch size grows with the load by
itself. With `workers` > 1,
that many workers take batches from the one queue, so a second batch can be searched while the
first one still runs (the retriever must then be safe to call from several threads at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from asearcher.api.documents import Hit

logger = logging.getLogger(__name__)

BatchSearchFn = Callable[[list[str], int], list[list[Hit]]]


@dataclass
class BatchStats:
    """What the batcher has done so far (read by tests and `/health`)."""

    batches: int = 0
    queries: int = 0
    sizes: Counter[int] = field(default_factory=Counter)  # batch size -> how many batches had it
    busy_s: float = 0.0  # seconds spent inside batch_search, summed over workers (may exceed wall time)

    def as_dict(self) -> dict[str, float | int]:
        mean = self.queries / self.batches if self.batches else 0.0
        return {"batches": self.batches, "queries": self.queries, "mean_batch": round(mean, 2),
                "max_batch": max(self.sizes, default=0), "busy_s": round(self.busy_s, 3)}


@dataclass
class _Item:
    query: str
    topk: int
    future: asyncio.Future[list[Hit]]


class MicroBatcher:
    """Groups single queries from concurrent callers into `batch_search` calls.

    `max_wait_ms` is how long the worker waits for company after the first query of a batch
    arrives; 0 means "take whatever is already waiting", which under load is already a lot
    (queries queue up while the previous batch runs). Must be started inside the event loop that
    serves the callers (`start()`), and stopped with `astop()`.
    """

    def __init__(self, batch_search: BatchSearchFn, *, max_batch: int = 64, max_wait_ms: float = 1.0,
                 workers: int = 1) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self._batch_search = batch_search
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.workers = workers
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the worker tasks in the running event loop."""
        if self._tasks:
            raise RuntimeError("MicroBatcher already started")
        self._queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._arun(), name=f"retrieval-batcher-{i}") for i in range(self.workers)]

    async def astop(self) -> None:
        """Stop the workers; queries still queued fail with CancelledError."""
        if not self._tasks:
            return
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        assert self._queue is not None
        while not self._queue.empty():
            self._queue.get_nowait().future.cancel()

    async def asearch(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """Results for `queries`, each query batched with whatever else is waiting."""
        if self._queue is None or not self._tasks:
            raise RuntimeError("MicroBatcher.start() was not called")
        for task in self._tasks:
            if task.done():
                # A worker only ends by a bug; surface it instead of hanging every request.
                raise RuntimeError("retrieval batch worker has stopped") from task.exception()
        loop = asyncio.get_running_loop()
        futures = []
        for q in queries:
            fut: asyncio.Future[list[Hit]] = loop.create_future()
            self._queue.put_nowait(_Item(q, topk, fut))
            futures.append(fut)
        return list(await asyncio.gather(*futures))

    async def _acollect(self) -> list[_Item]:
        """Block for one item, then take what else arrives within max_wait, up to max_batch."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        # A caller that gave up (client disconnected) leaves a cancelled future: skip its work.
        return [it for it in batch if not it.future.done()]

    async def _arun(self) -> None:
        while True:
            batch = await self._acollect()
            if not batch:
                continue
            # One batch_search per distinct topk: slicing a larger top-k is not exact for every
            # retriever (fusion scores depend on the depth), so we never do it.
            by_topk: dict[int, list[_Item]] = {}
            for it in batch:
                by_topk.setdefault(it.topk, []).append(it)
            start = time.perf_counter()
            for topk, items in by_topk.items():
                await self._arun_group(topk, items)
            self.stats.busy_s += time.perf_counter() - start
            self.stats.batches += 1
            self.stats.queries += len(batch)
            self.stats.sizes[len(batch)] += 1

    async def _arun_group(self, topk: int, items: list[_Item]) -> None:
        queries = [it.query for it in items]
        try:
            results = await asyncio.to_thread(self._batch_search, queries, topk)
            if len(results) != len(items):
                raise RuntimeError(f"batch_search returned {len(results)} result lists for {len(items)} queries")
        except Exception as e:  # noqa: BLE001 - isolated below, then handed to the caller that caused it
            if len(items) > 1:
                # One bad query must not fail the requests it happened to be batched with: search
                # each query alone, so the error reaches only the caller whose query raises.
                logger.warning("batch_search failed on a batch of %d (%s: %s); searching them one by one",
                               len(items), type(e).__name__, e)
                for it in items:
                    await self._arun_group(topk, [it])
                return
            logger.exception("batch_search failed on query %r", items[0].query[:200])
            if not items[0].future.done():
                items[0].future.set_exception(e)
            return
        for it, hits in zip(items, results, strict=True):
            if not it.future.done():
                it.future.set_result(hits)
