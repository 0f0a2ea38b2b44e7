"""Checkpoints of an RL run: everything a resumed run needs to continue as if never stopped.

Layout of `<run>/checkpoints/step-<NNNNNN>/` (written into a temp folder, then renamed: a crash never
leaves a half checkpoint under a final name):

    model.safetensors   trainer weights (adapters included when LoRA is on)
    optimizer.pt        AdamW state
    rng.pt              python, numpy and torch RNG states
    state.json          step, policy version, data position, executor state (staleness counters,
                        filter budget, groups to restart)
    buffer.jsonl        accepted-but-untrained groups, one trajectory per line with its group id

Episodes in flight at save time are not saved: their questions are in `state.json` ("restart") and
run again from scratch after resume, with the same seeds; the staleness controller counts them as
cancelled, so the admission bound stays exact (see StalenessController.load_state_dict).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asearcher.api.trajectory import Trajectory
from asearcher.errors import UserError
from asearcher.rl.interfaces import Checkpoint

logger = logging.getLogger(__name__)

PREFIX = "step-"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_groups(path: Path, buffer: list[tuple[int, list[Trajectory]]]) -> None:
    """Groups of trajectories as JSON lines, one trajectory per line with its group id (buffer.jsonl)."""
    with path.open("w", encoding="utf-8") as f:
        for gid, group in buffer:
            for t in group:
                f.write(json.dumps({"group": gid, "trajectory": t.to_dict()}, ensure_ascii=False) + "\n")


def read_groups(path: Path) -> list[tuple[int, list[Trajectory]]]:
    """What `write_groups` wrote, in the same order."""
    groups: dict[int, list[Trajectory]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            groups.setdefault(int(rec["group"]), []).append(Trajectory.from_dict(rec["trajectory"]))
    return list(groups.items())


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any], buffer: list[tuple[int, list[Trajectory]]], keep_last: int = 2) -> Path:
    """Write checkpoint `step` atomically and delete all but the newest `keep_last`."""
    from safetensors.torch import save_file

    root = Path(run_dir) / "checkpoints"
    final = root / f"{PREFIX}{step:06d}"
    tmp = root / f".tmp-{PREFIX}{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # clones: tied weights share storage, which safetensors refuses to write twice
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    write_groups(tmp / "buffer.jsonl", buffer)
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1, default=str))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in checkpoint_dirs(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint saved: %s", final)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    restore_rng: bool = True) -> Checkpoint:
    """Load weights and optimizer in place, restore RNG states; returns state.json and the buffer."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / "state.json").is_file():
        raise UserError(f"{path}: not a checkpoint folder (no state.json)")
    result = model.load_state_dict(load_file(str(path / "model.safetensors")), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise UserError(f"{path}: checkpoint weights do not match the model (missing {result.missing_keys[:3]}, "
                        f"unexpected {result.unexpected_keys[:3]}): resume with the same model / lora settings")
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    if restore_rng:
        set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    state = json.loads((path / "state.json").read_text())
    logger.info("resumed from %s (step %d, version %s)", path, state["step"], state.get("version", "-"))
    return Checkpoint(path, state, read_groups(path / "buffer.jsonl"))
