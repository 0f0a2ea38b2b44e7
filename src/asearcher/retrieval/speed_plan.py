"""The query encoder's speed plan: dtype and threads per batch size, measured once on this CPU.

Why measure: the best setting depends on the CPU kind and the batch size, and no fixed rule held
on both machine kinds we run on. On Intel Xeon with AMX a one-query batch took 18-20 ms in bf16
and 11 ms in fp32, while bf16 won for larger batches; on AMD EPYC (avx512_bf16, no AMX) bf16 won
at every batch size. One thread beat two on Intel at every concurrency and on any busy machine (the
OpenMP pools spin-wait), two beat one on quiet AMD cores at concurrency 32. So with `dense.dtype:
auto` (on a CPU with native bf16) and/or `dense.threads: 0`, the first query batch times each
candidate setting on a 1-query and a 16-query batch (interleaved rounds, best of `_ROUNDS`, about
1-3 s) and keeps the fastest for batches of up to `SMALL_MAX` queries and for larger ones.
Passage embedding is not planned: its dtype keys the embedding cache, so it stays the resolved one.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from asearcher.hardware import resolve_dtype

log = logging.getLogger(__name__)

SMALL_MAX = 4  # batches of up to this many queries use the "small" setting; the server's c=1 case
PROBES = {"small": 1, "large": 16}  # bucket -> batch size timed for it
_ROUNDS = 5


@dataclass(frozen=True)
class Setting:
    """How one query batch is encoded: compute dtype and CPU threads (0 = leave the pools alone)."""

    dtype: str
    threads: int


def bucket(batch_size: int) -> str:
    """The plan bucket of a batch of `batch_size` queries."""
    return "small" if batch_size <= SMALL_MAX else "large"


def usable_cores() -> int:
    """CPU cores this process may run on (cgroup/affinity aware where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def candidates(dtype: str, threads: int, device: str) -> list[Setting]:
    """The settings worth timing for a `dense.dtype` / `dense.threads` pair (one when nothing is left open)."""
    resolved = resolve_dtype(dtype, device)
    dtypes = ["float32", "bfloat16"] if dtype == "auto" and resolved == "bfloat16" and device == "cpu" else [resolved]
    cores = usable_cores()
    counts = [1, cores] if threads == 0 and device == "cpu" and cores > 1 else [threads]
    return [Setting(d, t) for d in dtypes for t in counts]


def choose(timings: dict[tuple[str, Setting], list[float]]) -> dict[str, Setting]:
    """The fastest setting per bucket by best time (ties: the first timed, i.e. fp32 and 1 thread first).

    >>> f1, b1 = Setting("float32", 1), Setting("bfloat16", 1)
    >>> choose({("small", f1): [.011, .012], ("small", b1): [.019], ("large", f1): [.09], ("large", b1): [.05]})
    {'small': Setting(dtype='float32', threads=1), 'large': Setting(dtype='bfloat16', threads=1)}
    """
    plan: dict[str, Setting] = {}
    best: dict[str, float] = {}
    for (b, setting), times in timings.items():
        t = min(times)
        if b not in best or t < best[b]:
            plan[b], best[b] = setting, t
    return plan


def measure(settings: list[Setting], encode: Callable[[Setting, int], None]) -> dict[tuple[str, Setting], list[float]]:
    """Time `encode(setting, batch_size)` for every setting and probe, in interleaved rounds after one
    warm-up each (interleaving spreads a neighbour's burst of load over all candidates alike)."""
    for s in settings:
        for n in PROBES.values():
            encode(s, n)
    timings: dict[tuple[str, Setting], list[float]] = {}
    for _ in range(_ROUNDS):
        for b, n in PROBES.items():
            for s in settings:
                t0 = time.perf_counter()
                encode(s, n)
                timings.setdefault((b, s), []).append(time.perf_counter() - t0)
    return timings


def make_plan(settings: list[Setting], encode: Callable[[Setting, int], None]) -> dict[str, Setting]:
    """The plan: the only setting when there is one, else the measured fastest per bucket."""
    if len(settings) == 1:
        return {b: settings[0] for b in PROBES}
    t0 = time.perf_counter()
    timings = measure(settings, encode)
    plan = choose(timings)
    log.info("dense query plan measured in %.1fs: %s (best ms: %s)", time.perf_counter() - t0, plan,
             {f"{b}/{s.dtype}/{s.threads}t": round(min(v) * 1000, 1) for (b, s), v in timings.items()})
    return plan
