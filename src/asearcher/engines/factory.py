"""`make_engine`: turn an engine spec from the command line or a config into an `InferenceEngine`."""

from __future__ import annotations

import logging
from pathlib import Path

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
    if spec is None:
        from asearcher.engines.embedded import embedded_model_path

        path = embedded_model_path()
        backend = DEFAULT_EMBEDDED_BACKEND if config.backend == "auto" else config.backend
        return _local(path, backend, config)
    if spec.startswith(("http://", "https://")):
        from asearcher.engines.openai_http import OpenAIEngine

        return OpenAIEngine(spec, config)
    path = Path(spec).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
        return _local(path, "transformers" if config.backend == "auto" else config.backend, config)
    raise UserError(
        f"engine {spec!r} is neither an http(s) URL nor an existing model folder or .gguf file"
        + ("" if path.exists() else " (no such path)")
    )


def _local(path: Path, backend: str, config: EngineConfig) -> InferenceEngine:
    if backend == "llamacpp":
        if path.suffix != ".gguf":
            raise UserError(f"backend 'llamacpp' needs a .gguf file; got {str(path)!r}")
        from asearcher.engines.embedded import load_tokenizer
        from asearcher.engines.llamacpp_server import LlamaCppEngine

        # Token-in/token-out through the server: prompts rendered here with the model's own template.
        mode_config = EngineConfig(**{**config.__dict__, "mode": "completions"})
        return LlamaCppEngine(path, mode_config, tokenizer=load_tokenizer(path))
    from asearcher.engines.transformers_engine import TransformersEngine

    return TransformersEngine.from_path(path, config)
