"""Collective weight transfer, the parts both ends share: the process group, the chunk layout, and the
receiver's staging. The sender is `rl/distributed/nccl_sync.py` (trainer rank 0); receivers are our vLLM worker
extension (`vllm_ext`) and SGLang's own `/update_weights_from_distributed`.

Pure torch, no vLLM: the same code runs over NCCL between GPUs and over gloo between CPU processes
(how it is tested here). Nothing heavy is imported at module level.

Group: built as SGLang builds its weight-update group (a TCP rendezvous at `master_address:port`, the
store prefixed by the group name, a process group that needs no default group), so one trainer-side
group talks to SGLang servers and to our vLLM extension alike. The trainer is rank 0.

Chunk ("bucket") wire format, used with our vLLM extension: the chunk's tensors are packed into one
uint8 buffer, each starting at a multiple of `ALIGN` bytes (so every slice can be viewed back as its
dtype), and broadcast in one call. Their names, dtypes and shapes travel over HTTP. SGLang's
documented format is one broadcast per tensor, in the order of the names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

ALIGN = 64  # bytes; a multiple of every dtype's element size


@runtime_checkable
class WeightStream(Protocol):
    """A collective transfer an engine takes part in from inside its weight-update protocol: the
    engine has already interrupted and drained its generations when it calls `areceive`, and sets its
    version only if `areceive` returns without raising."""

    async def areceive(self, engine: Any, version: int) -> None:
        """Receive the whole transfer into `engine`'s server (raises on any failure)."""
        ...


@dataclass(frozen=True, slots=True)
class TensorMeta:
    """What the receiver needs to allocate a tensor before it arrives."""

    name: str
    dtype: str  # torch dtype name without "torch.": "bfloat16", "float32", ...
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return _numel(self.shape) * _dtype(self.dtype).itemsize


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _dtype(name: str) -> Any:
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown torch dtype {name!r}")  # noqa: TRY004 (a bad value, not a bad type)
    return dtype


def dtype_name(dtype: Any) -> str:
    """`torch.bfloat16` -> "bfloat16" (the form SGLang's API and `TensorMeta` use)."""
    return str(dtype).removeprefix("torch.")


def bucket_layout(metas: Sequence[TensorMeta]) -> tuple[list[int], int]:
    """Byte offset of each tensor in a packed chunk, and the chunk's total size."""
    offsets, end = [], 0
    for m in metas:
        start = -(-end // ALIGN) * ALIGN
        offsets.append(start)
        end = start + m.nbytes
    return offsets, end


def metas_to_json(metas: Sequence[TensorMeta]) -> str:
    return json.dumps([[m.name, m.dtype, list(m.shape)] for m in metas])


def metas_from_json(text: str) -> list[TensorMeta]:
    return [TensorMeta(str(n), str(d), tuple(int(x) for x in s)) for n, d, s in json.loads(text)]


def init_weight_group(
    backend: str, master_address: str, master_port: int, rank: int, world_size: int,
    group_name: str, timeout_s: float = 600.0,
) -> Any:
    """Join (rank 0: create) the weight-update process group; returns it for `broadcast(..., group=)`.

    Works without a default process group (the trainer may have none; a vLLM/SGLang worker has its
    own) and next to one. It blocks until all `world_size` ranks have joined (or `timeout_s`).
    Uses torch's internal group constructor, as SGLang does, so both ends lay out the store alike.
    """
    from torch.distributed import distributed_c10d as c10d

    timeout = timedelta(seconds=timeout_s)
    store, rank, world_size = next(
        c10d.rendezvous(f"tcp://{master_address}:{master_port}", rank, world_size, timeout=timeout)
    )
    store.set_timeout(timeout)
    store = c10d.PrefixStore(group_name, store)
    group, _ = c10d._new_process_group_helper(
        world_size, rank, [], backend, store, group_name=group_name, backend_options=None, timeout=timeout
    )
    c10d._world.pg_group_ranks[group] = {i: i for i in range(world_size)}  # group rank == "global" rank
    return group


def destroy_weight_group(group: Any) -> None:
    """Leave `group` (frees its name and communicators; a later `init_weight_group` may reuse the name)."""
    import torch.distributed as dist

    dist.destroy_process_group(group)


class WeightReceiver:
    """Receiving end of bucketed chunks, with staging so an update is all-or-nothing.

    `receive(index, metas)` takes one broadcast chunk and keeps its tensors (on `staging_device`:
    "cpu" bounds accelerator memory to one chunk; the host then holds a full copy of the weights
    until `take`). `take(n_chunks)` hands over every staged tensor once chunks 0..n-1 all arrived, in
    order; anything else raises and drops the staging. The model is only touched by the caller after
    `take`, so a transfer that fails mid-way leaves the served weights (and version) as they were.
    """

    def __init__(self, group: Any, device: Any, staging_device: str = "cpu") -> None:
        self.group = group
        self.device = device
        self.staging_device = staging_device
        self._staged: list[tuple[str, Any]] = []
        self._chunks = 0

    def receive(self, index: int, metas: Sequence[TensorMeta]) -> int:
        """Receive chunk `index` (its one broadcast from rank 0); returns the number of tensors.

        The broadcast is always joined before any check can fail, so the group stays in step with
        the sender even when this chunk is then refused."""
        import torch
        import torch.distributed as dist

        offsets, total = bucket_layout(metas)
        buf = torch.empty(total, dtype=torch.uint8, device=self.device)
        dist.broadcast(buf, src=0, group=self.group)
        if index != self._chunks:
            expected = self._chunks
            self.abort()
            raise RuntimeError(f"weight chunk {index} arrived, expected chunk {expected}; staging dropped")
        for m, off in zip(metas, offsets, strict=True):
            t = buf[off : off + m.nbytes].view(_dtype(m.dtype)).view(m.shape)
            self._staged.append((m.name, t.to(self.staging_device, copy=True)))
        self._chunks += 1
        return len(metas)

    def take(self, n_chunks: int) -> list[tuple[str, Any]]:
        """All staged (name, tensor) pairs, if exactly `n_chunks` chunks arrived; staging is emptied."""
        got = self._chunks
        staged = self._staged
        self.abort()
        if got != n_chunks:
            raise RuntimeError(f"weight update incomplete: {got} of {n_chunks} chunks arrived; nothing loaded")
        return staged

    def abort(self) -> None:
        """Drop whatever was staged (the next transfer starts at chunk 0)."""
        self._staged, self._chunks = [], 0
