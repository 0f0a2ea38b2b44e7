"""The run dashboard's data: metrics rows appended since a byte offset, held-out summaries, the config.

The page polls `metrics_since` with the offset it got last time, so a live run costs one small read
per poll whatever its length. Secrets never leave the server: config values under a key that names
a key, token, secret or password, and credentials inside URLs, are masked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from asearcher.ui.files import RunRoots

MAX_READ = 8 << 20  # bytes of metrics returned per call; the page asks again for the rest
_SECRET_KEY = re.compile(r"(api_?key|token|secret|password|passwd|credential)", re.I)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
HELD_OUT = ("eval_shipped", "eval_before", "eval_after")


def redact(value: Any, key: str = "") -> Any:
    """`value` with secrets masked (by key name, and user:password@ in URLs)."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if value and _SECRET_KEY.search(key) and not key.endswith("_env"):
            return "***"
        return _URL_CREDENTIALS.sub("***@", value)
    return value


def metrics_since(path: Path, offset: int) -> dict[str, Any]:
    """Complete JSON lines of `path` from byte `offset` on: {"rows", "offset" (next), "reset"}.

    `reset` is true when the file is shorter than `offset` (rewritten): the page starts over.
    """
    size = path.stat().st_size
    reset = offset > size
    start = 0 if reset else offset
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(min(size - start, MAX_READ))
    complete = data[: data.rfind(b"\n") + 1]  # a torn last line waits for the writer
    rows = []
    for line in complete.split(b"\n"):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return {"rows": rows, "offset": start + len(complete), "reset": reset}


def _summary(folder: Path) -> dict[str, Any] | None:
    """An eval summary.json as {"meta", "datasets"} (the held-out eval writes the datasets part only)."""
    p = folder / "summary.json"
    if not p.is_file():
        return None
    data = json.loads(p.read_text())
    if "datasets" not in data:
        data = {"meta": {}, "datasets": data}
    return redact(data)


def run_overview(roots: RunRoots, run_id: str) -> dict[str, Any]:
    """What the dashboard shows beside the curves: resolved config, eval summaries, files."""
    folder = roots.resolve(run_id, folder=True)
    config = None
    if (folder / "config.yaml").is_file():
        config = redact(yaml.safe_load((folder / "config.yaml").read_text()))
    evals = {}
    own = _summary(folder)
    if own is not None:
        evals["this folder"] = own
    for name in HELD_OUT:
        s = _summary(folder / name)
        if s is not None:
            evals[name.removeprefix("eval_")] = s
    return {"id": run_id, "config": config, "evals": evals,
            "metrics": roots.ref(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else None}
