"""`WeightUpdateExtension`: mixed into each vLLM worker by `--worker-extension-cls`; its methods are
called on every worker through `collective_rpc` (HTTP: POST /collective_rpc in dev mode, which passes
string arguments only, hence the JSON-string parameters).

The weights are loaded with the model's own `load_weights` (HF checkpoint names in, vLLM's fused
layouts out), in place: the model object, its KV-cache layout and CUDA graphs stay valid.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _safetensors_files(path: str) -> list[Path]:
    p = Path(path)
    files = sorted(p.glob("*.safetensors")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no .safetensors weights at {path!r}")
    return files


def _iter_tensors(files: list[Path]) -> Iterator[tuple[str, Any]]:
    from safetensors import safe_open

    for f in files:
        with safe_open(str(f), framework="pt") as sf:
            for name in sf.keys():
                yield name, sf.get_tensor(name)


class WeightUpdateExtension:
    """Methods vLLM adds to its worker class; `self` is the worker (it has `model_runner`, `device`)."""

    def update_weights_from_path(self, path: str) -> dict[str, Any]:
        """Load every tensor of the safetensors file / model folder at `path` into the running model."""
        start = time.perf_counter()
        tensors = _iter_tensors(_safetensors_files(path))
        reload = getattr(self, "reload_weights", None)
        if reload is not None:
            # vLLM >= 0.2x: in-place reload that re-runs the kernel-format processing (the CPU backend
            # repacks linear weights after loading, so a bare `load_weights` finds empty parameters).
            reload(weights_iterator=tensors, is_checkpoint_format=True)
        else:  # older vLLM (GPU): the model's own loader copies into the existing parameters
            self.model_runner.model.load_weights(weights=tensors)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - start
        log.info("loaded weights from %s in %.2f s", path, seconds)
        return {"ok": True, "seconds": seconds}

    def init_weight_update_group(
        self, master_address: str, master_port: str, rank_offset: str, world_size: str
    ) -> dict[str, Any]:
        """Join the trainer's NCCL group (trainer = rank 0; this worker = rank_offset + its rank).
        GPU only; the trainer-side broadcast is not part of this package yet."""
        from vllm.distributed.device_communicators.pynccl import PyNcclCommunicator
        from vllm.distributed.parallel_state import get_world_group
        from vllm.distributed.utils import StatelessProcessGroup

        rank = int(rank_offset) + get_world_group().rank
        group = StatelessProcessGroup.create(
            host=master_address, port=int(master_port), rank=rank, world_size=int(world_size)
        )
        self._asearcher_nccl = PyNcclCommunicator(group, device=self.device)  # type: ignore[attr-defined]
        return {"ok": True, "rank": rank}

    def update_weights_from_nccl(self, meta_json: str) -> dict[str, Any]:
        """Receive tensors broadcast by rank 0, in the order of `meta_json` ([[name, dtype, shape], ...]),
        and load them into the model."""
        import torch

        comm = getattr(self, "_asearcher_nccl", None)
        if comm is None:
            raise RuntimeError("init_weight_update_group must be called before update_weights_from_nccl")
        model = self.model_runner.model  # type: ignore[attr-defined]
        count = 0
        for name, dtype, shape in json.loads(meta_json):
            tensor = torch.empty(shape, dtype=getattr(torch, dtype), device=self.device)  # type: ignore[attr-defined]
            comm.broadcast(tensor, src=0, stream=torch.cuda.current_stream())
            model.load_weights(weights=[(name, tensor)])
            count += 1
        return {"ok": True, "tensors": count}
