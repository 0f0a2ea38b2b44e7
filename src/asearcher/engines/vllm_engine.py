"""`VLLMEngine`: a remote vLLM OpenAI-compatible server as a rollout engine, token-in/token-out.

Generation: token ids as `prompt` on `/v1/completions`, streamed (`stream: true`) so the tokens
sampled so far are in hand when a request is aborted; `return_tokens_as_token_ids` makes every
streamed token a "token_id:<id>" string (exact sampled ids, no re-tokenisation) and `logprobs: 1`
carries its logprob. Closing the stream is vLLM's abort: the server drops the request.

Behaviour logprob: launch the server with `--logprobs-mode processed_logprobs`; the logprob is then
`log_softmax(logits / T)` at the sampled id, the distribution actually sampled from (with top-p < 1
or top-k, the truncated, renormalised one). vLLM's default, `raw_logprobs`, reports the T = 1
distribution, which is not the behaviour policy at T != 1. `launch_args()` puts the flag in.

Weight updates need the server launched with `VLLM_SERVER_DEV_MODE=1` (for `/collective_rpc`,
`/reset_prefix_cache`, `/update_weight_version`) and `--worker-extension-cls
asearcher.engines.vllm_ext.WeightUpdateExtension`: `aupdate_weights(path, version)` interrupts
generations in flight, has every worker load the safetensors at `path` in place, drops the prefix
cache (its KV belongs to the old weights), records the version on the server, and resubmits the
interrupted generations (prompt + partial output) under the new weights. `aupdate_weights(stream,
version)` with a `WeightStream` (rl/distributed/nccl_sync.py) receives the weights over NCCL from the trainer
instead, in chunks staged by the extension and loaded only when all arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx

from asearcher.api.engine import FinishReason, GenRequest
from asearcher.engines.config import EngineConfig
from asearcher.engines.openai_http import HTTPEngineError, raise_refusal
from asearcher.engines.remote import Call, Chunk, EngineUnavailable, ResumableRemoteEngine
from asearcher.engines.server_process import ServerProcess
from asearcher.engines.weight_stream import TensorMeta, WeightStream, metas_to_json
from asearcher.errors import UserError

log = logging.getLogger(__name__)

WORKER_EXTENSION = "asearcher.engines.vllm_ext.WeightUpdateExtension"


def launch_args(model: str, host: str = "127.0.0.1", port: int = 8000) -> list[str]:
    """Command-line arguments of `python -m vllm.entrypoints.openai.api_server` for a server this
    engine can train against (also set VLLM_SERVER_DEV_MODE=1 in its environment)."""
    return [
        "--model", model, "--host", host, "--port", str(port),
        "--logprobs-mode", "processed_logprobs",
        "--worker-extension-cls", WORKER_EXTENSION,
    ]


def check_training_server(url: str, temperature: float) -> None:
    """Refuse, before a run starts, a vLLM server at `url` that training cannot use (UserError naming the
    flag): unreachable; not in dev mode (no /collective_rpc to load weights: its /server_info is missing
    too); without our worker extension; or, at a sampling temperature other than 1, reporting logprobs of the
    T = 1 distribution (vLLM's default `raw_logprobs`) instead of the one sampled from."""
    root = url.rstrip("/").removesuffix("/v1")
    how = "start it as docs/runbook.md shows (VLLM_SERVER_DEV_MODE=1 and the flags of vllm_engine.launch_args)"
    try:
        resp = httpx.get(root + "/server_info", params={"config_format": "json"}, timeout=30.0)
    except httpx.HTTPError as e:
        raise UserError(f"vLLM server {url} (engine.servers): cannot reach it ({type(e).__name__}: {e})") from None
    if resp.status_code == 404:
        raise UserError(f"vLLM server {url} (engine.servers) is not in dev mode: it cannot load new weights; {how}")
    resp.raise_for_status()
    config = resp.json().get("vllm_config") or {}
    extension = (config.get("parallel_config") or {}).get("worker_extension_cls")
    mode = (config.get("model_config") or {}).get("logprobs_mode")
    missing = []
    if extension != WORKER_EXTENSION:
        missing.append(f"--worker-extension-cls {WORKER_EXTENSION} (it has {extension!r}: no way to load weights)")
    if mode != "processed_logprobs" and abs(temperature - 1.0) > 1e-9:
        missing.append(f"--logprobs-mode processed_logprobs (it has {mode!r}: at temperature {temperature} the "
                       "behaviour logprobs would be of another distribution than the sampled one)")
    if missing:
        raise UserError(f"vLLM server {url} (engine.servers) lacks {'; '.join(missing)}; {how}")


class VLLMServer(ServerProcess):
    """A vLLM OpenAI server for `model` in a child process on 127.0.0.1 (a free port), launched with
    `launch_args` and dev mode (engines/server_process.py: start, health, errors, stop). Extra flags e.g.
    ["--enforce-eager", "--max-model-len", "2048"] (the Ray engine actors add tensor / pipeline parallel
    sizes); env e.g. {"VLLM_CPU_KVCACHE_SPACE": "1"} on CPU."""

    name = "vLLM"
    module = "vllm.entrypoints.openai.api_server"

    def args(self) -> list[str]:
        return launch_args(self.model, port=self.port)

    def base_env(self) -> dict[str, str]:
        return {"VLLM_SERVER_DEV_MODE": "1"}  # /collective_rpc and the other endpoints weight updates use


class VLLMEngine(ResumableRemoteEngine):
    """`InferenceEngine` over a vLLM server at `base_url` ("http://host:8000", with or without /v1).

    Args:
        base_url: the server's URL.
        config: model name (`model`, empty: ask /v1/models), timeouts, retries (`EngineConfig`).
        tokenizer: an `api.Tokenizer`, to render `messages` and decode ids (`text == decode(ids)`).
        owned_server: a `VLLMServer` this engine started and stops in `aclose` (engines/factory.py's
            `engine.launch`).
    """

    kind = "vllm"

    def __init__(self, base_url: str, config: EngineConfig | None = None, tokenizer: Any = None,
                 owned_server: VLLMServer | None = None) -> None:
        root = base_url.rstrip("/")
        super().__init__(root[: -len("/v1")] if root.endswith("/v1") else root, config, tokenizer, owned_server)
        self.model = self.config.model

    async def _amodel(self) -> str:
        if not self.model:
            resp = await self.client.get(self.base_url + "/v1/models")
            if resp.status_code != 200 or not resp.json().get("data"):
                raise HTTPEngineError(f"{self.base_url}/v1/models names no model; set the engine's `model`")
            self.model = resp.json()["data"][0]["id"]
        return self.model

    async def _agenerate_chunk(self, call: Call, ids: list[int], budget: int, request: GenRequest) -> Chunk:
        body: dict[str, Any] = {
            "model": await self._amodel(),
            "prompt": ids,
            "max_tokens": budget,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "logprobs": 1,
            "return_tokens_as_token_ids": True,
            # Keep special tokens and the stop string in the text, as the other engines do.
            "skip_special_tokens": False,
            "include_stop_str_in_output": True,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        out = Chunk([], [], "", "abort")
        texts: list[str] = []
        try:
            await self._astream(body, out, texts)
        except asyncio.CancelledError:
            # Aborted by us (user abort or weight update): leaving `async with` closed the stream,
            # which vLLM treats as an abort. Keep what was sampled.
            out.finish = "abort"
        out.text = "".join(texts)
        return out

    async def _astream(self, body: dict[str, Any], out: Chunk, texts: list[str]) -> None:
        url = self.base_url + "/v1/completions"
        delay = self.config.retry_backoff_s
        for attempt in range(self.config.retries + 1):
            try:
                async with self.client.stream("POST", url, json=body) as resp:
                    if resp.status_code >= 400:
                        message = (await resp.aread()).decode(errors="replace")[:500]
                        if resp.status_code < 500:
                            raise_refusal(f"POST {url}: HTTP {resp.status_code}: {message}")
                        raise httpx.HTTPStatusError(message, request=resp.request, response=resp)
                    async for line in resp.aiter_lines():
                        if _consume(line, out, texts):
                            return
                    return
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if out.ids or attempt == self.config.retries:
                    # Tokens already streamed cannot be un-sampled: a server dying mid-stream fails
                    # the call (a router retries it elsewhere from the full context).
                    raise EngineUnavailable(f"POST {url}: {type(exc).__name__}: {exc}") from exc
                log.warning("POST %s: %s; retry %d/%d in %.1f s", url, exc, attempt + 1, self.config.retries, delay)
                await asyncio.sleep(delay)
                delay *= 2

    async def _ainterrupt_all(self) -> None:
        for calls in list(self._calls.values()):
            for call in calls:
                if call.task is not None:
                    call.task.cancel()

    async def _aabort_chunk(self, call: Call) -> None:
        if call.task is not None:
            call.task.cancel()

    async def _await_server_idle(self, timeout_s: float = 5.0) -> None:
        """Wait until vLLM reports no running request (Prometheus `vllm:num_requests_running`).

        Closing our streams aborts our requests, but the server notices a disconnect only at its next
        step; loading weights before then would overlap the last old-weight steps. Bounded: a shared
        server busy with other clients' requests, or one without /metrics, does not block the update.
        """
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            try:
                resp = await self.client.get(self.base_url + "/metrics", timeout=2.0)
            except httpx.HTTPError:
                return
            if resp.status_code != 200:
                return
            running = [float(line.rsplit(" ", 1)[1]) for line in resp.text.splitlines()
                       if line.startswith("vllm:num_requests_running")]
            if not running or sum(running) == 0:
                return
            await asyncio.sleep(0.02)
        log.info("%s: server still reports running requests after %.0f s; loading anyway", self, timeout_s)

    async def _aload_weights(self, source: str | Path | WeightStream, version: int) -> None:
        await self._await_server_idle()
        if isinstance(source, WeightStream):  # a collective transfer from the trainer (NCCL / gloo)
            await source.areceive(self, version)
        else:
            await self._arpc("update_weights_from_path", str(source))
        # Cached prefixes hold KV computed by the old weights; resumed requests must not reuse them.
        reset = await self._apost("/reset_prefix_cache", {})
        if reset and reset.get("success") is False:
            raise RuntimeError("vLLM could not reset its prefix cache after the weight update")
        await self._apost("/update_weight_version", {"new_version": str(version)})

    async def _arpc(self, method: str, *args: str) -> list[dict[str, Any]]:
        """Call `method` of the worker extension on every worker; their results (raises unless all ok)."""
        data = await self._apost("/collective_rpc", {"method": method, "args": list(args)})
        results = data.get("results") or []
        failures = [r for r in results if not (isinstance(r, dict) and r.get("ok"))]
        if failures or not results:
            raise RuntimeError(f"vLLM workers failed {method}{args!r}: {failures or data}")
        return results

    # ---- collective weight transfer (driven by rl/distributed/nccl_sync.NcclWeightSync) ----------------------

    weight_wire = "bucket"  # one packed broadcast per chunk (engines/weight_stream.py)

    async def ainit_weight_group(
        self, master_address: str, master_port: int, rank_offset: int, world_size: int, *,
        backend: str = "nccl", group_name: str = "asearcher_weights", timeout_s: float = 600.0,
    ) -> int:
        """Have every worker join the trainer's weight-update group; returns the number of ranks joined."""
        results = await self._arpc("init_weight_update_group", master_address, str(master_port), str(rank_offset),
                                   str(world_size), backend, group_name, str(timeout_s))
        return len(results)

    async def areceive_weight_chunk(self, index: int, metas: list[TensorMeta], last: bool, version: int) -> None:
        """Every worker receives chunk `index` into staging (the model is unchanged until the commit)."""
        await self._arpc("receive_weight_chunk", str(index), metas_to_json(metas))

    async def acommit_weight_update(self, n_chunks: int, version: int) -> None:
        """Load the staged chunks (all `n_chunks` must have arrived). `_aload_weights` then resets the
        prefix cache and records `version` on the server."""
        await self._arpc("commit_weight_update", str(n_chunks))

    async def aabort_weight_update(self) -> None:
        """Drop the staged chunks of a failed transfer; the served weights are unchanged."""
        await self._arpc("abort_weight_update")

    async def aserver_version(self) -> str | None:
        """The weight version the server reports (GET /weight_info, dev mode)."""
        resp = await self.client.get(self.base_url + "/weight_info")
        resp.raise_for_status()
        return resp.json().get("weight_version")


def _consume(line: str, out: Chunk, texts: list[str]) -> bool:
    """Fold one server-sent-events line into `out`; True at the end of the stream."""
    if not line.startswith("data:"):
        return False
    payload = line[len("data:") :].strip()
    if payload == "[DONE]":
        return True
    data = json.loads(payload)
    if "error" in data:
        raise_refusal(f"vLLM stream error: {data['error']}")
    for choice in data.get("choices") or []:
        lp = choice.get("logprobs") or {}
        for token, logprob in zip(lp.get("tokens") or [], lp.get("token_logprobs") or [], strict=True):
            if not (isinstance(token, str) and token.startswith("token_id:")):
                raise HTTPEngineError(f"vLLM sent token {token!r}; the engine needs return_tokens_as_token_ids")
            out.ids.append(int(token.split(":", 1)[1]))
            out.logprobs.append(float(logprob))
        texts.append(choice.get("text") or "")
        if choice.get("finish_reason"):
            out.finish = _finish(choice["finish_reason"])
    return False


def _finish(reason: str) -> FinishReason:
    return reason if reason in ("stop", "length", "abort") else "stop"
