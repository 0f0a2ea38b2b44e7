"""`make_engine`: turn an engine spec from the command line or a config into an `InferenceEngine`."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from asearcher.api.engine import InferenceEngine
from asearcher.engines.config import EngineConfig
from asearcher.errors import UserError

log = logging.getLogger(__name__)

# Measured in docs/engines.md: llama.cpp is the faster CPU backend for the embedded model; the RL
# trainer builds a TransformersEngine itself (it needs trainable weights and exact logprobs).
DEFAULT_EMBEDDED_BACKEND = "llamacpp"


def make_engine(spec: str | None, *, config: EngineConfig | None = None) -> InferenceEngine:
    """Build an engine from `spec`.

    - None: the embedded SmolLM2-135M-Instruct (backend per `config.backend`, 'auto' = measured default);
    - "http://..." / "https://...": an OpenAI-compatible server (`OpenAIEngine`);
    - a model folder or .gguf file: in-process `TransformersEngine` (a .gguf with backend=llamacpp:
      a local llama.cpp server).
    Anything else is a UserError naming the value.
    """
    config = config or EngineConfig()
    path = check_engine_spec(spec, config)
    if path is None:
        from asearcher.engines.openai_http import OpenAIEngine

        return OpenAIEngine(spec, config)
    return _local(path, _backend(spec, config), config)


def _backend(spec: str | None, config: EngineConfig) -> str:
    """The local backend: the configured one, or for 'auto' the measured default for the embedded model."""
    if config.backend != "auto":
        return config.backend
    return DEFAULT_EMBEDDED_BACKEND if spec is None else "transformers"


def check_engine_spec(spec: str | None, config: EngineConfig | None = None) -> Path | None:
    """Cheap checks of an engine spec, before anything slow is built (no model is loaded).

    Returns the local model path (the embedded .gguf for None), or None for an http(s) URL; raises
    the UserError that `make_engine` would raise for a missing path, a URL without a host, a spec
    that is neither, or backend 'llamacpp' with a model that is not a .gguf file.
    """
    config = config or EngineConfig()
    if spec is None:
        from asearcher.engines.embedded import embedded_model_path

        path = embedded_model_path()
    elif spec.startswith(("http://", "https://")):
        try:
            host = urlsplit(spec).hostname
        except ValueError as e:
            raise UserError(f"engine {spec!r}: malformed URL ({e})") from None
        if not host:
            raise UserError(f"engine {spec!r}: the URL has no host (expected e.g. http://127.0.0.1:8000/v1)")
        return None
    else:
        path = Path(spec).expanduser()
        if not (path.is_dir() or (path.is_file() and path.suffix == ".gguf")):
            raise UserError(
                f"engine {spec!r} is neither an http(s) URL nor an existing model folder or .gguf file"
                + ("" if path.exists() else " (no such path)")
            )
    if _backend(spec, config) == "llamacpp" and path.suffix != ".gguf":
        raise UserError(f"backend 'llamacpp' needs a .gguf file; got {str(path)!r}")
    return path


def _local(path: Path, backend: str, config: EngineConfig) -> InferenceEngine:
    if backend == "llamacpp":  # check_engine_spec made sure `path` is a .gguf file
        from asearcher.engines.embedded import load_tokenizer
        from asearcher.engines.llamacpp_server import LlamaCppEngine

        # Token-in/token-out through the server: prompts rendered here with the model's own template.
        mode_config = EngineConfig(**{**config.__dict__, "mode": "completions"})
        return LlamaCppEngine(path, mode_config, tokenizer=load_tokenizer(path))
    from asearcher.engines.transformers_engine import TransformersEngine

    return TransformersEngine.from_path(path, config)
