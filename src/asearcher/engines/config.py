"""Configuration of the inference engines (`make_engine` reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asearcher.config import cfg


@dataclass
class EngineConfig:
    """How to build an inference engine; the model itself is named by the engine spec (path / URL)."""

    backend: Literal["auto", "transformers", "llamacpp", "vllm", "sglang"] = cfg(
        "auto",
        "Backend for a local model: 'transformers' (in-process, exact logprobs, trainable weights), "
        "'llamacpp' (xllamacpp server, GGUF only, faster on CPU) or 'auto' (llamacpp for the embedded "
        "default model, transformers for other paths). Rollout servers: 'vllm' / 'sglang' (token-in/out, "
        "updatable weights) at engine.servers, or a server started here with engine.launch (local training: "
        "weight_sync=disk).",
    )
    servers: list[str] = cfg(
        [], "backend vllm/sglang: server URLs (http://host:port); more than one = a RoutedEngine (one server "
        "per trajectory, least-loaded placement, failover). Empty: the engine spec if it is a URL.")
    launch: bool = cfg(False, "backend vllm/sglang with a model folder and no servers: start one server for it on "
                       "127.0.0.1 (stopped by the engine's aclose; local `asearcher train` logs it in the run folder; "
                       "the Ray engine actors launch theirs this way).")
    launch_python: str = cfg("", "launch: interpreter that has vLLM / SGLang (empty: this one).")
    launch_args: list[str] = cfg([], "launch: extra server flags (strings), e.g. ['--max-model-len', '32768'] (vLLM) "
                                 "or ['--context-length', '32768'] (SGLang).")
    launch_env: dict[str, str] = cfg({}, "launch: extra environment of the server, e.g. {VLLM_CPU_KVCACHE_SPACE: '2'} "
                                     "(GiB of KV cache on a CPU; vLLM's default takes far more).")
    device: str = cfg("cpu", "Torch device of the in-process engine (and of the local trainer, also with "
                      "rollout servers): 'cpu', 'cuda', 'cuda:1', ...")
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = cfg(
        "float32", "Weight dtype of the in-process engine; auto = bfloat16 where the device computes it natively "
        "(AVX512-BF16/AMX CPUs, bf16 GPUs), else float32.")
    max_batch_size: int = cfg(8, "Most sequences the in-process engine decodes together in one step.")
    prefix_cache_tokens: int = cfg(
        32768, "In-process engine: tokens of finished requests' keys/values kept so that a request starting "
        "with the same tokens (an agent's next turn) runs only its new tokens; emptied on every weight "
        "update. 0 disables. Memory per token: layers x 2 x kv_heads x head_dim x dtype bytes.")
    seed: int = cfg(0, "Seed of the in-process engine's sampler for requests that carry no seed.")
    attn_implementation: str = cfg("sdpa", "transformers attention kernel ('sdpa' or 'eager').")
    api_key_env: str = cfg(
        "OPENAI_API_KEY", "Environment variable holding the HTTP API key (the key itself is never logged)."
    )
    model: str = cfg("", "Model name sent to an HTTP server (empty: ask the server's /v1/models).")
    mode: Literal["chat", "completions"] = cfg(
        "chat",
        "HTTP mode: 'chat' (/v1/chat/completions, messages) or 'completions' (/v1/completions with "
        "token ids as the prompt: token-in/token-out, needed for training; vLLM and llama.cpp accept it).",
    )
    timeout_s: float = cfg(300.0, "HTTP read timeout per request, in seconds.")
    connect_timeout_s: float = cfg(10.0, "HTTP connect timeout, in seconds.")
    retries: int = cfg(3, "Retries of an HTTP request after a transport error or a 5xx reply.")
    retry_backoff_s: float = cfg(1.0, "First retry delay in seconds; doubles on each retry.")
    logprobs: bool = cfg(True, "Ask HTTP servers for the logprob of each sampled token.")
    n_parallel: int = cfg(4, "llama.cpp server slots (requests decoded together).")
    n_ctx: int = cfg(8192, "llama.cpp context size shared by all slots.")
    n_threads: int = cfg(0, "llama.cpp CPU threads (0: all cores).")
