"""Weight sync (rl/interfaces.WeightSync): trainer weights -> inference engines, with a policy version.

Two reference transports:
- `InProcessWeightSync`: a detached copy of the trainer's state dict, loaded into the engine's own
  parameters (`TransformersEngine.aupdate_weights`: pause between two decode steps, swap, re-prefill
  in-flight requests so they continue under the new weights).
- `DiskWeightSync`: a safetensors file per version under a folder (written atomically); the engine
  reloads from the version's folder. The same files are what a separate engine process reads: a vLLM /
  SGLang rollout server (local training with engine.backend=vllm/sglang, or the scale-out launchers).
An NCCL broadcast (rl/distributed/nccl_sync.py) implements the same Protocol.

What is sent is the trainer's `export_weights()` (rl/interfaces.WeightSource): a LoRA trainer exports
merged full weights under the base model's names, so the engine never needs to know about adapters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from asearcher.api.engine import InferenceEngine
from asearcher.rl.interfaces import WeightSource

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"


def copy_weights(source: WeightSource) -> dict[str, torch.Tensor]:
    """Detached, contiguous copies of `source`'s exported weights (a snapshot the next step cannot change;
    tied weights become separate tensors, which safetensors needs)."""
    return {k: v.detach().clone().contiguous() for k, v in source.export_weights().items()}


@dataclass
class WeightsSnapshot:
    """Fixed weights as a `WeightSource`: a state dict already gathered (e.g. by a sharded trainer's rank 0)."""

    weights: dict[str, torch.Tensor]

    def export_weights(self) -> dict[str, torch.Tensor]:
        return self.weights


def save_weights(state: dict[str, torch.Tensor], folder: Path) -> Path:
    """Write `state` to `folder/model.safetensors` atomically (temp folder + rename); returns the folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(folder.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(state, str(tmp / WEIGHTS_FILE))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def _update_engine(engine: InferenceEngine) -> Any:
    update = getattr(engine, "aupdate_weights", None)
    if update is None:
        raise TypeError(f"{type(engine).__name__} cannot load new weights (no aupdate_weights); "
                        "training needs an updatable engine such as TransformersEngine")
    return update


class InProcessWeightSync:
    """Copies the trainer's weights into engines living in the same process."""

    def __init__(self) -> None:
        self._state: dict[str, torch.Tensor] | None = None
        self._version = -1

    async def apublish(self, source: WeightSource, version: int) -> None:
        """Snapshot the weights of `source` as `version`; runs in a worker thread."""
        self._state = await asyncio.to_thread(copy_weights, source)
        self._version = version

    async def aupdate(self, engine: InferenceEngine) -> int:
        if self._state is None:
            raise RuntimeError("aupdate before any apublish")
        await _update_engine(engine)(self._state, self._version)
        return self._version

    def latest_version(self) -> int:
        return self._version


class DiskWeightSync:
    """Saves each version to `<folder>/v<version>/model.safetensors`; engines reload from the path.

    Keeps the newest `keep` versions on disk (older ones are deleted after a newer one is published).
    """

    def __init__(self, folder: str | Path, keep: int = 1) -> None:
        self.folder = Path(folder)
        self.keep = max(1, keep)
        self._version = -1

    def path_of(self, version: int) -> Path:
        return self.folder / f"v{version}"

    async def apublish(self, source: WeightSource, version: int) -> None:
        start = time.perf_counter()

        def write() -> None:
            save_weights(copy_weights(source), self.path_of(version))

        await asyncio.to_thread(write)
        self._version = version
        for old in sorted(self.folder.glob("v*"), key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else -1):
            if old.name[1:].isdigit() and int(old.name[1:]) <= version - self.keep:
                shutil.rmtree(old, ignore_errors=True)
        logger.debug("published version %d to %s in %.2f s", version, self.path_of(version),
                     time.perf_counter() - start)

    async def aupdate(self, engine: InferenceEngine) -> int:
        if self._version < 0:
            raise RuntimeError("aupdate before any apublish")
        # The version's folder, not its file: every engine loads a folder of *.safetensors, and SGLang's
        # /update_weights_from_disk takes nothing else (its loader reads a path that is no folder as a hub name).
        await _update_engine(engine)(self.path_of(self._version), self._version)
        return self._version

    def latest_version(self) -> int:
        return self._version
