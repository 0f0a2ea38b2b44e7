"""`NcclWeightSync`: the WeightSync (rl/interfaces.py) that broadcasts the trainer's weights from rank 0
to every inference server over a process group, in chunks of bounded size.

    trainer rank 0 ──HTTP: chunk i's names/dtypes/shapes──► every server (all its workers)
                   ══broadcast: chunk i's bytes═══════════► every server rank, at the same time

One group holds the trainer (rank 0) and every worker of every server (ranks 1..). Servers join it
through their own APIs: our vLLM worker extension (`init_weight_update_group`, `receive_weight_chunk`,
`commit_weight_update` over `/collective_rpc`; chunks are staged and loaded only at the commit) or
SGLang's `/init_weights_update_group` + `/update_weights_from_distributed` (one broadcast per tensor).

The update runs inside each engine's own update protocol (`engine.aupdate_weights(stream, version)`):
generations are interrupted and drained first, the engine's `version` switches only if the whole
transfer succeeded, and interrupted generations then resume under the new weights. For a
`RoutedEngine` the transfer starts once every server has drained, and a failure on any server fails
it on all of them (a collective cannot continue without one of its ranks).

The torch.distributed backend is a parameter: "nccl" between GPUs, "gloo" between CPU processes (the
tests run the same code path with gloo).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from asearcher.api.engine import InferenceEngine
from asearcher.engines.weight_stream import (
    TensorMeta,
    bucket_layout,
    destroy_weight_group,
    dtype_name,
    init_weight_group,
)
from asearcher.rl.interfaces import WeightSource

logger = logging.getLogger(__name__)

Chunk = list[tuple[TensorMeta, torch.Tensor]]


def plan_chunks(tensors: Sequence[tuple[str, torch.Tensor]], chunk_bytes: int, dtype: torch.dtype | None = None
                ) -> Iterator[Chunk]:
    """Group tensors, in order, into chunks of at most `chunk_bytes` (a larger tensor goes alone).
    `dtype`: cast floating-point tensors to it on the wire (e.g. fp32 master weights sent as bf16)."""
    chunk: Chunk = []
    size = 0
    for name, t in tensors:
        wire = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
        meta = TensorMeta(name, dtype_name(wire), tuple(t.shape))
        if chunk and size + meta.nbytes > chunk_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append((meta, t))
        size += meta.nbytes
    if chunk:
        yield chunk


def _with_last(chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, bool]]:
    """(chunk, is_last) with one chunk of lookahead, so chunks are still produced lazily."""
    prev = next(chunks, None)
    while prev is not None:
        nxt = next(chunks, None)
        yield prev, nxt is None
        prev = nxt


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host if host not in ("", "0.0.0.0") else "", 0))
        return s.getsockname()[1]


class NcclWeightSync:
    """Broadcast the published weights from this process (trainer rank 0) to every server of an engine.

    Args:
        master_address: address of this host as the servers reach it (default: this host's name).
        master_port: port of the group's rendezvous; 0 = a free port, chosen at each (re)connection.
        backend: torch.distributed backend: "nccl" (GPUs) or "gloo" (CPU; tests).
        device: where chunks are assembled before the broadcast (default "cuda" for nccl, else "cpu").
        chunk_bytes: most bytes per chunk (bounds the sender's extra memory and each receiver's
            accelerator buffer).
        ranks_per_server: workers each server puts in the group (its tensor x pipeline parallel size).
        group_name: base name of the group (a counter is appended at each reconnection).
        timeout_s: rendezvous and collective timeout; a server that never joins a broadcast fails the
            transfer after this long (the group is then rebuilt at the next update).
        dtype: wire dtype of floating-point tensors (None: the trainer's dtype), e.g. "bfloat16".
    """

    def __init__(
        self, master_address: str = "", master_port: int = 0, *, backend: str = "nccl", device: str | None = None,
        chunk_bytes: int = 512 << 20, ranks_per_server: int = 1, group_name: str = "asearcher_weights",
        timeout_s: float = 600.0, dtype: str | None = None,
    ) -> None:
        if chunk_bytes < 1 or ranks_per_server < 1:
            raise ValueError(f"chunk_bytes and ranks_per_server must be >= 1, got {chunk_bytes}, {ranks_per_server}")
        self.master_address = master_address or socket.gethostbyname(socket.gethostname())
        self.master_port = master_port
        self.backend = backend
        self.device = torch.device(device or ("cuda" if backend == "nccl" else "cpu"))
        self.chunk_bytes = chunk_bytes
        self.ranks_per_server = ranks_per_server
        self.group_name = group_name
        self.timeout_s = timeout_s
        self.dtype = getattr(torch, dtype) if dtype else None
        self.last_stats: dict[str, float] = {}
        self._source: WeightSource | None = None
        self._version = -1
        self._group: Any = None
        self._members: tuple[int, ...] = ()
        self._generation = 0

    # ---- WeightSync -------------------------------------------------------------------------

    async def apublish(self, source: WeightSource, version: int) -> None:
        """Remember `source` (a trainer) as `version`; its weights are exported at the transfer, without a
        copy where the trainer gives views: it must not step before `aupdate` returned (TrainLoop syncs
        between steps)."""
        self._source = source
        self._version = version

    async def aupdate(self, engine: InferenceEngine) -> int:
        """Broadcast the published weights into every server of `engine` (a remote engine, or a
        `RoutedEngine` over several); returns the new version. Raises if any server failed; then
        no engine version changed."""
        if self._source is None:
            raise RuntimeError("aupdate before any apublish")
        servers = list(getattr(engine, "engines", None) or [engine])
        for s in servers:
            if not hasattr(s, "areceive_weight_chunk"):
                raise TypeError(f"{type(s).__name__} cannot receive weights over a process group "
                                "(use VLLMEngine or SGLangEngine, or DiskWeightSync)")
        await self._aconnect(servers)
        stream = _Broadcast(self, servers)
        start = time.perf_counter()
        await engine.aupdate_weights(stream, self._version)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - start
        self.last_stats = {"weight_sync/seconds": seconds, "weight_sync/bytes": float(stream.bytes),
                           "weight_sync/chunks": float(stream.chunks),
                           "weight_sync/transfer_s": stream.transfer_s}
        logger.info("version %d broadcast to %d server(s): %.1f MB in %d chunks, %.2f s (transfer %.2f s)",
                    self._version, len(servers), stream.bytes / 1e6, stream.chunks, seconds, stream.transfer_s)
        return self._version

    def latest_version(self) -> int:
        return self._version

    async def aclose(self) -> None:
        """Leave the group."""
        self._drop_group()

    # ---- the group --------------------------------------------------------------------------

    async def _aconnect(self, servers: list[Any]) -> None:
        """Form the group with `servers` unless it already exists for exactly these servers."""
        members = tuple(id(s) for s in servers)
        if self._group is not None and members == self._members:
            return
        self._drop_group()
        self._generation += 1
        name = f"{self.group_name}-{self._generation}"
        port = self.master_port or _free_port(self.master_address)
        world = 1 + len(servers) * self.ranks_per_server
        joins = [asyncio.ensure_future(s.ainit_weight_group(
            self.master_address, port, 1 + i * self.ranks_per_server, world, backend=self.backend,
            group_name=name, timeout_s=self.timeout_s)) for i, s in enumerate(servers)]
        own = asyncio.ensure_future(asyncio.to_thread(
            init_weight_group, self.backend, self.master_address, port, 0, world, name, self.timeout_s))
        results = await asyncio.gather(own, *joins, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if not isinstance(results[0], BaseException):
            self._group = results[0]
        for s, joined in zip(servers, results[1:], strict=True):
            if isinstance(joined, int) and joined and joined != self.ranks_per_server:
                errors.append(ValueError(f"{s!r} has {joined} workers but ranks_per_server={self.ranks_per_server}"))
        if errors:
            self._drop_group()
            raise errors[0]
        self._members = members
        logger.info("weight group %s formed: trainer + %d server(s), world size %d, %s at %s:%d",
                    name, len(servers), world, self.backend, self.master_address, port)

    def _drop_group(self) -> None:
        if self._group is not None:
            group, self._group, self._members = self._group, None, ()
            destroy_weight_group(group)

    # ---- the transfer -----------------------------------------------------------------------

    def _send(self, chunk: Chunk, wire: str) -> None:
        """Broadcast one chunk (blocking; runs in a worker thread)."""
        import torch.distributed as dist

        if wire == "bucket":
            offsets, total = bucket_layout([m for m, _ in chunk])
            buf = torch.empty(total, dtype=torch.uint8, device=self.device)
            for (meta, t), off in zip(chunk, offsets, strict=True):
                data = _full(t).detach().to(device=self.device, dtype=getattr(torch, meta.dtype)).contiguous()
                buf[off : off + meta.nbytes].copy_(data.reshape(-1).view(torch.uint8))
            dist.broadcast(buf, src=0, group=self._group)
        else:  # SGLang: one broadcast per tensor, in order
            for meta, t in chunk:
                data = _full(t).detach().to(device=self.device, dtype=getattr(torch, meta.dtype)).contiguous()
                dist.broadcast(data, src=0, group=self._group)

    async def _atransfer(self, servers: list[Any], stream: _Broadcast) -> None:
        """Every chunk: its metadata to every server over HTTP while this rank broadcasts its bytes; then
        the commit. On any failure every server drops what it staged and the error is raised."""
        wires = {s.weight_wire for s in servers}
        if len(wires) != 1:
            raise ValueError(f"servers of one weight group must share a wire format, got {sorted(wires)}")
        wire = wires.pop()
        assert self._source is not None  # aupdate checked it
        # In a worker thread: a sharded trainer's export is a gather (a collective), seconds for a 7B model.
        tensors = list((await asyncio.to_thread(self._source.export_weights)).items())
        version, start = self._version, time.perf_counter()
        try:
            index = -1
            for index, (chunk, last) in enumerate(_with_last(plan_chunks(tensors, self.chunk_bytes, self.dtype))):
                metas = [m for m, _ in chunk]
                calls = [asyncio.ensure_future(s.areceive_weight_chunk(index, metas, last, version)) for s in servers]
                send = asyncio.ensure_future(asyncio.to_thread(self._send, chunk, wire))
                results = await asyncio.gather(send, *calls, return_exceptions=True)
                if isinstance(results[0], BaseException):
                    self._drop_group()  # a failed or timed-out collective leaves the group unusable
                _raise_first(results)
                stream.chunks += 1
                stream.bytes += sum(m.nbytes for m in metas)
            if index < 0:
                raise ValueError("no weights to send: the published state is empty")
            _raise_first(await asyncio.gather(*(s.acommit_weight_update(index + 1, version) for s in servers),
                                               return_exceptions=True))
        except BaseException:
            await asyncio.gather(*(s.aabort_weight_update() for s in servers), return_exceptions=True)
            raise
        finally:
            stream.transfer_s = time.perf_counter() - start


def _full(t: torch.Tensor) -> torch.Tensor:
    # An FSDP2 DTensor is gathered here; every trainer rank must then run this sync (only rank 0 sends).
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _raise_first(results: Sequence[Any]) -> None:
    for r in results:
        if isinstance(r, BaseException):
            raise r


class _Broadcast:
    """The `WeightStream` handed to `engine.aupdate_weights`: each server's engine calls `areceive` once
    it has drained its generations; the transfer starts when all servers are there, and every caller
    gets its outcome."""

    def __init__(self, sync: NcclWeightSync, servers: list[Any]) -> None:
        self.sync = sync
        self.servers = servers
        self._arrived: set[int] = set()
        self._all_here = asyncio.Event()
        self._task: asyncio.Future | None = None
        self.chunks = 0
        self.bytes = 0
        self.transfer_s = 0.0

    async def areceive(self, engine: Any, version: int) -> None:
        if not any(engine is s for s in self.servers):
            raise ValueError(f"{engine!r} is not a member of this weight group")
        if version != self.sync.latest_version():
            raise ValueError(f"engine asked for version {version}, the sync publishes {self.sync.latest_version()}")
        self._arrived.add(id(engine))
        if len(self._arrived) == len(self.servers):
            self._task = asyncio.ensure_future(self.sync._atransfer(self.servers, self))
            self._all_here.set()
        else:
            try:
                await asyncio.wait_for(self._all_here.wait(), self.sync.timeout_s)
            except TimeoutError:
                raise TimeoutError(f"only {len(self._arrived)} of {len(self.servers)} servers were ready for the "
                                   f"weight transfer after {self.sync.timeout_s:.0f} s") from None
        assert self._task is not None
        await asyncio.shield(self._task)
