"""Sharded retrieval: a router fans each query batch out to shards and merges their top-k by score.

    router_dir/shards.json   {"shards": ["/idx/part0", "http://host1:8000", ...]}

A shard is an index folder (opened in this process) or the URL of a retrieval server (ours or any
Search-R1-compatible one, queried through RetrievalClient). `load_index(router_dir)` opens the
router, so `asearcher serve --index router_dir` serves the whole corpus behind one port.

Merging by score is exact for dense shards of one model (cosine scores are comparable across
shards): the merged top-k equals the top-k of one index over all passages. BM25 scores use each
shard's own term statistics, so a BM25 router is an approximation of one big index.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from asearcher.api.documents import Hit
from asearcher.errors import UserError

CONFIG_FILE = "shards.json"


def merge_topk(lists: Sequence[Sequence[Hit]], topk: int) -> list[Hit]:
    """The `topk` highest-scoring hits of several score-sorted lists (ties: earlier list first).

    >>> from asearcher.api.documents import Passage
    >>> h = lambda i, s: Hit(Passage(i, "", ""), s)
    >>> [x.passage.id for x in merge_topk([[h("a", .9), h("b", .5)], [h("c", .7), h("d", .5)]], 3)]
    ['a', 'c', 'b']
    """
    keyed = ([(-hit.score, n, i, hit) for i, hit in enumerate(hits)] for n, hits in enumerate(lists))
    return [item[3] for item in heapq.merge(*keyed)][:topk]


class RemoteShard:
    """A retrieval server as a shard: a synchronous `batch_search` over the async client, on a
    private event loop thread (the router's callers are threads, not coroutines)."""

    def __init__(self, url: str) -> None:
        from asearcher.retrieval.client import RetrievalClient

        self.url = url
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True, name=f"shard {url}").start()
        self._client = RetrievalClient(url)

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        return asyncio.run_coroutine_threadsafe(self._client.asearch(queries, topk), self._loop).result()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)


class ShardedRetriever:
    """Fans a batch out to every shard at once (one thread each) and merges per query by score."""

    def __init__(self, shards: Sequence[Any], kind: str = "sharded") -> None:
        if not shards:
            raise UserError("shards: the router needs at least one shard")
        self.shards = list(shards)
        self.kind = kind
        self._pool = ThreadPoolExecutor(max_workers=len(self.shards), thread_name_prefix="shard")

    def search(self, query: str, topk: int) -> list[Hit]:
        """The merged `topk` of one query."""
        return self.batch_search([query], topk)[0]

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """Every shard's top-k of every query, merged per query."""
        if topk < 1 or not queries:
            return [[] for _ in queries]
        per_shard = list(self._pool.map(lambda s: s.batch_search(queries, topk), self.shards))
        return [merge_topk([answers[q] for answers in per_shard], topk) for q in range(len(queries))]

    def __len__(self) -> int:
        """Passages in the local shards (a remote shard's size is not known here)."""
        return sum(len(s) for s in self.shards if not isinstance(s, RemoteShard))


def write_router(router_dir: Path, shards: Sequence[str]) -> None:
    """Write `shards.json` naming the shards (folders are stored as absolute paths)."""
    router_dir = Path(router_dir)
    router_dir.mkdir(parents=True, exist_ok=True)
    names = [s if s.startswith(("http://", "https://")) else str(Path(s).expanduser().resolve()) for s in shards]
    (router_dir / CONFIG_FILE).write_text(json.dumps({"shards": names}, indent=1))


def load_router(router_dir: Path, open_index: Callable[[Path], Any]) -> ShardedRetriever:
    """Open the router of `router_dir/shards.json`; each folder shard through `open_index`
    (index_io.load_index, passed in: index_io opens routers, so this module cannot import it)."""
    path = Path(router_dir) / CONFIG_FILE
    try:
        names = json.loads(path.read_text())["shards"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path}: unreadable router ({e})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UserError(f'{path}: "shards" must be a list of index folders or server URLs')
    shards = [RemoteShard(n) if n.startswith(("http://", "https://")) else open_index(Path(n)) for n in names]
    kinds = {s.kind for s in shards if not isinstance(s, RemoteShard)}
    return ShardedRetriever(shards, kinds.pop() if len(kinds) == 1 else "sharded")
