"""`WeightUpdateExtension`: mixed into each vLLM worker by `--worker-extension-cls`; its methods are
called on every worker through `collective_rpc` (HTTP: POST /collective_rpc in dev mode, which passes
string arguments only, hence the JSON-string parameters).

The weights are loaded with the model's own `load_weights` (HF checkpoint names in, vLLM's fused
layouts out), in place: the model object, its KV-cache layout and CUDA graphs stay valid. They come
from a safetensors path, or from the trainer over a process group (NCCL on GPUs, gloo in CPU tests):
chunks are staged and loaded only at the commit, so an interrupted transfer changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from asearcher.engines.weight_stream import WeightReceiver, destroy_weight_group, init_weight_group, metas_from_json

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
        self._asearcher_load(_iter_tensors(_safetensors_files(path)))
        seconds = time.perf_counter() - start
        log.info("loaded weights from %s in %.2f s", path, seconds)
        return {"ok": True, "seconds": seconds}

    def _asearcher_load(self, tensors: Iterable[tuple[str, Any]]) -> None:
        reload = getattr(self, "reload_weights", None)
        if reload is not None:
            # vLLM >= 0.2x: in-place reload that re-runs the kernel-format processing (the CPU backend
            # repacks linear weights after loading, so a bare `load_weights` finds empty parameters).
            reload(weights_iterator=iter(tensors), is_checkpoint_format=True)
        else:  # older vLLM (GPU): the model's own loader copies into the existing parameters
            self.model_runner.model.load_weights(weights=tensors)  # type: ignore[attr-defined]

    # ---- collective transfer from the trainer (rl/distributed/nccl_sync.NcclWeightSync) ----------------------

    def init_weight_update_group(
        self, master_address: str, master_port: str, rank_offset: str, world_size: str,
        backend: str = "nccl", group_name: str = "asearcher_weights", timeout_s: str = "600",
        staging: str = "cpu",
    ) -> dict[str, Any]:
        """Join the trainer's weight-update group as rank `rank_offset` + this worker's rank in its
        server (the trainer is rank 0). Blocks until every rank joined. A previous group is left first.
        `staging`: where received chunks wait until the commit ("cpu", or "device" for speed when the
        accelerator has room for a second copy of the weights)."""
        old = getattr(self, "_asearcher_receiver", None)
        if old is not None:
            self._asearcher_receiver = None
            destroy_weight_group(old.group)
        rank = int(rank_offset) + int(getattr(self, "rank", 0))
        group = init_weight_group(backend, master_address, int(master_port), rank, int(world_size), group_name,
                                  float(timeout_s))
        device = self.device  # type: ignore[attr-defined]
        self._asearcher_receiver = WeightReceiver(group, device, device if staging == "device" else "cpu")
        log.info("joined weight-update group %s as rank %d of %s (%s)", group_name, rank, world_size, backend)
        return {"ok": True, "rank": rank}

    def _receiver(self) -> WeightReceiver:
        receiver = getattr(self, "_asearcher_receiver", None)
        if receiver is None:
            raise RuntimeError("init_weight_update_group must be called before receiving weights")
        return receiver

    def receive_weight_chunk(self, index: str, metas_json: str) -> dict[str, Any]:
        """Receive chunk `index`, whose tensors are `metas_json` ([[name, dtype, shape], ...]), from
        rank 0's broadcast into staging; the model is not touched yet."""
        count = self._receiver().receive(int(index), metas_from_json(metas_json))
        return {"ok": True, "tensors": count}

    def commit_weight_update(self, n_chunks: str) -> dict[str, Any]:
        """Load the staged tensors into the model, if all `n_chunks` chunks arrived (else raise and
        load nothing)."""
        start = time.perf_counter()
        tensors = self._receiver().take(int(n_chunks))
        self._asearcher_load(tensors)
        return {"ok": True, "tensors": len(tensors), "seconds": time.perf_counter() - start}

    def abort_weight_update(self) -> dict[str, Any]:
        """Drop the staged chunks of an unfinished transfer (the model keeps its weights)."""
        receiver = getattr(self, "_asearcher_receiver", None)
        if receiver is not None:
            receiver.abort()
        return {"ok": True}
