"""`make_engine`: turn an engine spec from the command line or a config into an `InferenceEngine`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asearcher.api.engine import InferenceEngine
from asearcher.engines.config import EngineConfig
from asearcher.errors import UserError

log = logging.getLogger(__name__)

# Measured in docs/engines.md: llama.cpp is the faster CPU backend for the embedded model; the RL
# trainer builds a TransformersEngine itself (it needs trainable weights and exact logprobs).
DEFAULT_EMBEDDED_BACKEND = "llamacpp"
REMOTE_BACKENDS = ("vllm", "sglang")


def make_engine(spec: str | None, *, config: EngineConfig | None = None,
                server_log: Path | None = None) -> InferenceEngine:
    """Build an engine from `spec`.

    - None: the embedded SmolLM2-135M-Instruct (backend per `config.backend`, 'auto' = measured default);
    - "http://..." / "https://...": an OpenAI-compatible server (`OpenAIEngine`);
    - a model folder or .gguf file: in-process `TransformersEngine` (a .gguf with backend=llamacpp:
      a local llama.cpp server).
    With backend 'vllm' / 'sglang': rollout servers (`VLLMEngine` / `SGLangEngine`) at `config.servers`
    (or at `spec` when it is a URL), routed by a `RoutedEngine` when there are several; `spec`, when a
    model folder, gives the tokenizer (and the model a `launch`ed vLLM / SGLang server serves; its output
    goes to `server_log`, default: discarded).
    Anything else is a UserError naming the value.
    """
    config = config or EngineConfig()
    if config.backend in REMOTE_BACKENDS:
        return _remote(spec, config, server_log)
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
    if config.backend in REMOTE_BACKENDS:
        return _check_remote(spec, config)
    if spec is None:
        from asearcher.engines.embedded import embedded_model_path

        path = embedded_model_path()
    elif spec.startswith(("http://", "https://")):
        _check_url(spec)
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


def _check_url(url: str, what: str = "engine") -> None:
    try:
        host = urlsplit(url).hostname
    except ValueError as e:
        raise UserError(f"{what} {url!r}: malformed URL ({e})") from None
    if not url.startswith(("http://", "https://")):
        raise UserError(f"{what} {url!r}: expected an http(s) URL, e.g. http://127.0.0.1:8000")
    if not host:
        raise UserError(f"{what} {url!r}: the URL has no host (expected e.g. http://127.0.0.1:8000/v1)")


def _check_remote(spec: str | None, config: EngineConfig) -> Path | None:
    """The model folder (tokenizer) of a vllm/sglang engine, or None; UserErrors for what cannot work."""
    for url in config.servers:
        _check_url(url, "engine.servers entry")
    is_url = spec is not None and spec.startswith(("http://", "https://"))
    if is_url:
        _check_url(spec)  # type: ignore[arg-type]
    path = None if (spec is None or is_url) else Path(spec).expanduser()
    if path is not None and not path.is_dir():
        raise UserError(f"engine {spec!r}: backend {config.backend!r} needs a model folder (for the tokenizer) or "
                        "a server URL" + ("" if path.exists() else " (no such path)"))
    if config.launch and (config.servers or is_url):
        raise UserError("engine.launch=true starts its own server: leave engine.servers empty and give a model folder")
    if not config.servers and not is_url:
        if config.launch and path is not None:
            return path
        raise UserError(f"engine.backend={config.backend!r} needs engine.servers (URLs) or a server URL as the "
                        "engine, or engine.launch=true with a model folder")
    return path


def _remote(spec: str | None, config: EngineConfig, server_log: Path | None = None) -> InferenceEngine:
    """VLLMEngine / SGLangEngine per server URL (RoutedEngine over several), or one server launched here."""
    path = _check_remote(spec, config)
    tokenizer = None
    if path is not None:
        from asearcher.engines.embedded import load_tokenizer

        tokenizer = load_tokenizer(path)
    urls = list(config.servers) or ([spec] if path is None else [])
    if config.backend == "sglang":
        from asearcher.engines.sglang_engine import SGLangEngine as Engine
        from asearcher.engines.sglang_engine import SGLangServer as Server
    else:
        from asearcher.engines.vllm_engine import VLLMEngine as Engine  # type: ignore[assignment]
        from asearcher.engines.vllm_engine import VLLMServer as Server  # type: ignore[assignment]
    if not urls:  # launch (checked above)
        server = Server(path, python=config.launch_python or sys.executable,  # type: ignore[arg-type]
                        extra_args=config.launch_args, env=config.launch_env, log_path=server_log).start()
        return Engine(server.url, config, tokenizer, owned_server=server)
    engines: list[Any] = [Engine(u, config, tokenizer) for u in urls]
    if len(engines) == 1:
        return engines[0]
    from asearcher.engines.router import RoutedEngine

    return RoutedEngine(engines)

