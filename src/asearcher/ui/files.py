"""The folders the UI may read, and the runs in them.

Every path the page names is `<root number>/<path relative to that root>`; `RunRoots.resolve` turns
it into a file only when the resolved path (symlinks followed) stays inside that root and has a
suffix the UI reads. Anything else is "not found", so a probe learns nothing about the disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from asearcher.errors import UserError

READABLE_SUFFIXES = (".jsonl", ".json", ".yaml", ".md", ".png")
# Files that make a folder a run, by role.
TRAJECTORY_FILES = ("results.jsonl", "trajectories.jsonl")
MARKERS = ("metrics.jsonl", "summary.json", "config.yaml", "run.json", *TRAJECTORY_FILES)
MAX_DEPTH = 4  # runs are found this many folders below a root at most (a train run's eval_* included)
SKIP_DIRS = {"checkpoints", "weights", "tensorboard", "wandb", "sft", "__pycache__"}


class NotReadable(Exception):
    """The path names nothing the UI may read (served as 404)."""


@dataclass
class RunInfo:
    """A folder holding run files: `id` is `<root>/<relative path>` ("0/." for a root that is a run)."""

    id: str
    name: str
    files: list[str] = field(default_factory=list)
    mtime: float = 0.0

    @property
    def kind(self) -> str:
        if "metrics.jsonl" in self.files:
            return "train"
        if "results.jsonl" in self.files or "summary.json" in self.files:
            return "eval"
        return "other"


class RunRoots:
    """The run/eval folders given on the command line."""

    def __init__(self, roots: list[str | Path]) -> None:
        self.roots: list[Path] = []
        for r in roots:
            p = Path(r).expanduser()
            if not p.is_dir():
                raise UserError(f"--runs {r}: no such folder")
            self.roots.append(p.resolve())

    def resolve(self, ref: str, *, folder: bool = False) -> Path:
        """The file (or folder) named by `ref`; raises NotReadable for anything outside the roots."""
        head, _, rel = (ref or "").partition("/")
        if not head.isdigit() or int(head) >= len(self.roots) or "\x00" in rel:
            raise NotReadable(ref)
        root = self.roots[int(head)]
        path = (root / (rel or ".")).resolve()
        if not path.is_relative_to(root):
            raise NotReadable(ref)
        if folder:
            if not path.is_dir():
                raise NotReadable(ref)
        elif not path.is_file() or path.suffix not in READABLE_SUFFIXES:
            raise NotReadable(ref)
        return path

    def ref(self, path: Path) -> str:
        """The reference of a path inside a root (inverse of `resolve`)."""
        path = path.resolve()
        for i, root in enumerate(self.roots):
            if path.is_relative_to(root):
                return f"{i}/{path.relative_to(root).as_posix()}"
        raise NotReadable(str(path))

    def runs(self) -> list[RunInfo]:
        """Every folder under a root holding run files, newest first."""
        found: list[RunInfo] = []
        for i, root in enumerate(self.roots):
            for dirpath, dirnames, filenames in os.walk(root):
                here = Path(dirpath)
                depth = len(here.relative_to(root).parts)
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
                if depth >= MAX_DEPTH:
                    dirnames[:] = []
                files = sorted(f for f in filenames if f in MARKERS)
                asks = sorted(f for f in filenames if f.startswith("ask-") and f.endswith(".json"))
                if files or asks:
                    rel = here.relative_to(root).as_posix()
                    name = root.name if rel == "." else f"{root.name}/{rel}"
                    mtime = max((here / f).stat().st_mtime for f in files + asks)
                    found.append(RunInfo(f"{i}/{rel}", name, files + asks, mtime))
        return sorted(found, key=lambda r: -r.mtime)
