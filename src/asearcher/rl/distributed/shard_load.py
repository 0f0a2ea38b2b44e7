"""Filling an FSDP2-sharded model (rl/distributed/fsdp_trainer.py) straight from a safetensors checkpoint:
every rank reads only the rows of its own shards, so no rank ever holds the whole model and host memory
does not grow with the number of ranks.

FSDP2 (`fully_shard` on a 1-D mesh) shards each parameter along dim 0 the `torch.chunk` way: with n rows
over W ranks, chunks of ceil(n / W) rows, rank r holding rows [r * chunk, min((r + 1) * chunk, n)) (the
last ranks may hold fewer rows, or none). `local_rows` computes that range and checks it against the
local tensor FSDP2 gave the rank, so a change of layout fails loudly rather than loading wrong rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


def checkpoint_files(folder: str | Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file holding it, for an HF model folder (sharded with an index, or
    one model.safetensors); {} when the folder has no safetensors weights (e.g. pytorch_model.bin)."""
    from safetensors import safe_open

    folder = Path(folder)
    if (folder / INDEX).is_file():
        weight_map = json.loads((folder / INDEX).read_text())["weight_map"]
        return {name: folder / file for name, file in weight_map.items()}
    if (folder / SINGLE).is_file():
        with safe_open(str(folder / SINGLE), framework="pt") as f:
            return dict.fromkeys(f.keys(), folder / SINGLE)
    return {}


def _sources(model: torch.nn.Module, files: dict[str, Path]) -> dict[str, str] | None:
    """Model state-dict name -> checkpoint name for every parameter and persistent buffer of `model`, or
    None if one is missing. A tied parameter (lm_head = embed_tokens) is read once, under whichever of its
    names the checkpoint holds (HF saves tied weights once)."""
    names_of: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(p), []).append(name)
    out = {}
    for names in names_of.values():
        found = next((n for n in names if n in files), None)
        if found is None:
            return None
        out[names[0]] = found
    persistent = set(model.state_dict(keep_vars=True)) - {n for names in names_of.values() for n in names}
    for name in persistent:
        if name not in files:
            return None
        out[name] = name
    return out


def can_load_shards(folder: str | Path, model: torch.nn.Module) -> bool:
    """Whether `folder` holds, in safetensors, every weight of `model` under its names (then each rank can
    read its own shards; otherwise rank 0 reads the model and broadcasts it). LoRA adapters are never in a
    base checkpoint, so a peft model is never loadable this way."""
    return _sources(model, checkpoint_files(folder)) is not None


def chunk_rows(n: int, world: int, rank: int) -> tuple[int, int]:
    """[start, end) of the n rows that `rank` of `world` holds under FSDP2's dim-0 sharding (torch.chunk's
    split: ceil(n / world) rows each, fewer or none for the last ranks)."""
    chunk = -(-n // world)
    start = min(rank * chunk, n)
    return start, min(start + chunk, n)


def local_rows(param: torch.Tensor) -> tuple[int, int]:
    """[start, end) of the dim-0 rows of the whole parameter that this rank's shard of `param` holds (all
    rows for a parameter that is not a DTensor)."""
    from torch.distributed.tensor import DTensor, Shard

    if not isinstance(param, DTensor):
        return 0, param.shape[0] if param.dim() else 0
    if tuple(param.placements) != (Shard(0),):
        raise RuntimeError(f"expected FSDP2's Shard(0) on a 1-D mesh, got {param.placements}")
    n, world, rank = param.shape[0], param.device_mesh.size(), param.device_mesh.get_local_rank()
    start, end = chunk_rows(n, world, rank)
    if param.to_local().shape[0] != end - start:
        raise RuntimeError(f"FSDP2 gave rank {rank} {param.to_local().shape[0]} rows of {n}; expected {end - start}")
    return start, end


@torch.no_grad()
def load_local_shards(model: torch.nn.Module, folder: str | Path) -> int:
    """Copy into `model` (sharded by FSDP2, storage materialised) this rank's rows of every weight, read from
    the safetensors files of `folder` (converted to the parameters' dtype); returns the elements read. A
    ValueError names a weight the checkpoint lacks (check `can_load_shards` first)."""
    from safetensors import safe_open
    from torch.distributed.tensor import DTensor

    files = checkpoint_files(folder)
    sources = _sources(model, files)
    if sources is None:
        raise ValueError(f"{folder}: the safetensors files do not hold every weight of the model")
    state = model.state_dict(keep_vars=True)
    by_file: dict[Path, list[str]] = {}
    for name, source in sources.items():
        by_file.setdefault(files[source], []).append(name)
    read = 0
    for file, names in by_file.items():
        for name in names:
            target = state[name]
            local = target.to_local() if isinstance(target, DTensor) else target
            start, end = local_rows(target)
            if local.numel() == 0:
                continue
            # One opening per tensor: safetensors maps the file, and the pages read stay in this process's
            # RSS until it is closed; so at most one tensor's slice of the file is mapped at a time.
            with safe_open(str(file), framework="pt") as f:
                rows = f.get_slice(sources[name])
                values = rows[start:end] if target.dim() else rows[:]
                local.copy_(values.reshape(local.shape))
                read += values.numel()
                del rows, values
    return read
