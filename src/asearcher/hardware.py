"""What the hardware computes natively, for `dtype: auto` settings (dense embedder, engine, trainer).

Emulated bf16 (AVX2, AVX-512 without the BF16 extension) is slower than fp32, so "auto" picks bf16
only on CPUs with avx512_bf16 / amx_bf16 and on CUDA GPUs that support it. `ASEARCHER_DTYPE`
(float32 or bfloat16) overrides every "auto" at once: CI's second pass runs the numerics-sensitive
tests with float32, as a CPU without native bf16 would, whatever CPU CI lands on.
"""

from __future__ import annotations

import functools
import os

from asearcher.errors import UserError

DTYPE_ENV = "ASEARCHER_DTYPE"
_DTYPES = ("float32", "bfloat16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none: then nothing is assumed)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def resolve_dtype(dtype: str, device: str) -> str:
    """"float32" or "bfloat16" for `dtype` ("auto": bf16 only where the hardware computes it natively)."""
    if dtype != "auto":
        return dtype
    forced = os.environ.get(DTYPE_ENV, "").strip()
    if forced:
        if forced not in _DTYPES:
            raise UserError(f"{DTYPE_ENV}={forced!r}: expected one of {', '.join(_DTYPES)} (or unset)")
        return forced
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    if device == "cpu" and cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return "bfloat16"
    return "float32"
