"""Token text for the explorer's token view: the tokenizer of the model that produced a run.

A run names its model in config.yaml (`asearcher train`: key `model`, empty = embedded) or run.json
(`asearcher eval`: key `model`, "embedded" = embedded). A URL names no local tokenizer, and then the
view shows ids. Tokenizers are loaded once per model path and kept.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)


def model_of_run(folder: Path, root: Path) -> str | None:
    """The model spec recorded by the run holding `folder` (searched upwards to `root`); None if unknown."""
    for d in [folder, *folder.parents]:
        if (d / "run.json").is_file():
            return str(json.loads((d / "run.json").read_text()).get("model") or "embedded")
        if (d / "config.yaml").is_file():
            conf = yaml.safe_load((d / "config.yaml").read_text())
            if isinstance(conf, dict) and "model" in conf:
                return str(conf["model"] or "embedded")
        if d == root:
            break
    return None


class Tokenizers:
    """Decodes ids with the tokenizer of a model spec (`override` wins for every run)."""

    def __init__(self, override: str = "") -> None:
        self.override = override
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, spec: str | None) -> Any:
        """The tokenizer for `spec`, or None when it names no local model."""
        spec = self.override or spec
        if not spec or spec.startswith(("http://", "https://")):
            return None
        with self._lock:
            if spec not in self._cache:
                self._cache[spec] = self._load(spec)
            return self._cache[spec]

    @staticmethod
    def _load(spec: str) -> Any:
        from asearcher.engines.embedded import embedded_model_path, load_tokenizer

        if spec == "bytes":  # the byte tokenizer of the scripted engine (runs made by tests and fakes)
            from asearcher.engines.byte_tokenizer import ByteTokenizer

            return ByteTokenizer()
        path = embedded_model_path() if spec == "embedded" else Path(spec).expanduser()
        if not path.exists():
            logger.warning("token view: model %s is not on this machine; showing token ids", spec)
            return None
        return load_tokenizer(path)


def token_pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text of each id on its own (ids only when there is no tokenizer)."""
    if tokenizer is None:
        return [f"#{i}" for i in ids]
    return [tokenizer.decode([i]) for i in ids]
