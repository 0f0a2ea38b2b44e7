"""`SGLangEngine`: a remote SGLang server through its native API, token-in/token-out.

Requests go to `/generate` with `input_ids`, `sampling_params` and `return_logprob`; the sampled ids
and their logprobs come back in `meta_info.output_token_logprobs` as `[logprob, token_id, text]`
entries, the finish reason in `meta_info.finish_reason.type` ("stop" / "length" / "abort").

Behaviour logprob: SGLang reports `log_softmax(logits / T)` at the sampled id (temperature applied,
top-p / top-k not folded in), the same convention as `TransformersEngine` and the trainer's
recomputation, **unless** the server runs with `SGLANG_RETURN_ORIGINAL_LOGPROB=1` (then the logprobs
are of the T = 1 distribution): do not set it for RL at T != 1.

Interrupts use `/abort_request` with the `rid` of each of our requests: SGLang answers an aborted `/generate`
with its partial output and finish type "abort". Weight updates: `/update_weights_from_disk`
(`model_path`, `weight_version`), or the NCCL path `/init_weights_update_group` +
`/update_weights_from_distributed`, driven by `aupdate_weights(stream, version)` with the trainer-side
broadcast of rl/distributed/nccl_sync.py.
`/pause_generation` and `/continue_generation` are exposed for callers that pause a server by hand.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

from asearcher.api.engine import FinishReason, GenRequest
from asearcher.engines.remote import Call, Chunk, ResumableRemoteEngine
from asearcher.engines.server_process import ServerProcess
from asearcher.engines.weight_stream import TensorMeta, WeightStream

log = logging.getLogger(__name__)


# Makes SGLang report T = 1 logprobs (see the module docstring): never set for a server we train against.
ORIGINAL_LOGPROB_ENV = "SGLANG_RETURN_ORIGINAL_LOGPROB"


class SGLangServer(ServerProcess):
    """An SGLang server for `model` in a child process on 127.0.0.1 (a free port): `python -m
    sglang.launch_server --model-path M --host 127.0.0.1 --port P` plus `extra_args` (tensor / pipeline
    parallel sizes: `--tp-size`, `--pp-size`), through engines/server_process.py (start, health, errors, stop).
    The environment drops SGLANG_RETURN_ORIGINAL_LOGPROB so the reported logprobs are those of the sampled
    distribution. SGLang needs a CUDA GPU: tests here launch a stand-in that speaks its API."""

    name = "SGLang"
    module = "sglang.launch_server"
    unset_env = (ORIGINAL_LOGPROB_ENV,)

    def args(self) -> list[str]:
        return ["--model-path", self.model, "--host", "127.0.0.1", "--port", str(self.port)]


class SGLangEngine(ResumableRemoteEngine):
    """`InferenceEngine` over an SGLang server at `base_url` (e.g. "http://10.0.0.5:30000").

    Args:
        base_url: the server's root URL (no /v1).
        config: timeouts, retries (`EngineConfig`).
        tokenizer: an `api.Tokenizer`, used to render `messages` and to decode output ids
            (`text == tokenizer.decode(output_ids)`); without one, `text` is the server's text.
        owned_server: an `SGLangServer` this engine started and stops in `aclose` (`engine.launch`).
    """

    kind = "sglang"
    _weight_group = "weight_update_group"  # SGLang's default; set by `ainit_weights_update_group`

    async def _agenerate_chunk(self, call: Call, ids: list[int], budget: int, request: GenRequest) -> Chunk:
        sampling: dict[str, Any] = {
            "max_new_tokens": budget,
            "temperature": request.temperature,
            "top_p": request.top_p,
            # Keep special tokens and the stop string itself in the text, as the other engines do.
            "skip_special_tokens": False,
            "no_stop_trim": True,
        }
        if request.stop:
            sampling["stop"] = list(request.stop)
        if request.seed is not None:
            sampling["sampling_seed"] = request.seed
        body = {
            "input_ids": ids,
            "sampling_params": sampling,
            "return_logprob": True,
            "rid": call.chunk_rid,
            "stream": False,
        }
        data = await self._apost("/generate", body)
        return parse_generate(data)

    async def _ainterrupt_all(self) -> None:
        # Our own requests only, by rid: other clients of a shared server keep generating.
        calls = [c for cs in list(self._calls.values()) for c in cs if c.task is not None]
        await asyncio.gather(*(self._aabort_chunk(c) for c in calls))

    async def _aabort_chunk(self, call: Call) -> None:
        if call.chunk_rid:
            await self._apost("/abort_request", {"rid": call.chunk_rid})

    async def _aload_weights(self, source: str | Path | WeightStream, version: int) -> None:
        if isinstance(source, WeightStream):  # a collective transfer from the trainer (NCCL)
            await source.areceive(self, version)
            return
        # SGLang loads every *.safetensors of a model folder and takes any other path for a Hub id, so weights
        # come as a folder: DiskWeightSync hands every engine the version's folder (local and Ray runs alike).
        if str(source).endswith(".safetensors"):
            raise ValueError(f"SGLang loads weights from a folder, got the file {source} (give its folder)")
        data = await self._apost(
            "/update_weights_from_disk", {"model_path": str(source), "weight_version": str(version)}
        )
        _check_success(data, "/update_weights_from_disk")

    # ---- collective weight transfer (driven by rl/distributed/nccl_sync.NcclWeightSync) ----------------------

    weight_wire = "per_tensor"  # SGLang receives one broadcast per tensor, in the order of `names`

    async def ainit_weight_group(
        self, master_address: str, master_port: int, rank_offset: int, world_size: int, *,
        backend: str = "nccl", group_name: str = "asearcher_weights", timeout_s: float = 600.0,
    ) -> int:
        """`ainit_weights_update_group` under the sync's common name; returns 0 (SGLang does not say how
        many ranks joined: its tensor-parallel size is configured on the sync)."""
        await self.ainit_weights_update_group(master_address, master_port, rank_offset, world_size,
                                              group_name=group_name, backend=backend)
        return 0

    async def areceive_weight_chunk(self, index: int, metas: list[TensorMeta], last: bool, version: int) -> None:
        """POST one chunk's names/dtypes/shapes; SGLang loads each tensor as it arrives. Only the last
        chunk flushes the cache and sets `weight_version`, so the server reports the new version only
        once every chunk is in. (SGLang has no staging: a transfer that fails mid-way leaves the
        server's weights mixed under the old version label; the engine's version stays old and a
        router keeps the server out of rotation until an update succeeds.)"""
        body: dict[str, Any] = {"names": [m.name for m in metas], "dtypes": [m.dtype for m in metas],
                                "shapes": [list(m.shape) for m in metas], "group_name": self._weight_group,
                                "flush_cache": last}
        if last:
            body["weight_version"] = str(version)
        _check_success(await self._apost("/update_weights_from_distributed", body), "/update_weights_from_distributed")

    async def acommit_weight_update(self, n_chunks: int, version: int) -> None:
        """Nothing to do: the last chunk's call loaded it and set the version."""

    async def aabort_weight_update(self) -> None:
        """Nothing to undo on SGLang (see `areceive_weight_chunk`)."""

    # ---- NCCL group set-up and manual pausing ----

    async def ainit_weights_update_group(
        self, master_address: str, master_port: int, rank_offset: int, world_size: int,
        group_name: str = "weight_update_group", backend: str = "nccl",
    ) -> None:
        """Ask the server to join the trainer's process group (the trainer is rank 0; the server's
        ranks start at `rank_offset`)."""
        self._weight_group = group_name
        data = await self._apost("/init_weights_update_group", {
            "master_address": master_address, "master_port": master_port, "rank_offset": rank_offset,
            "world_size": world_size, "group_name": group_name, "backend": backend,
        })
        _check_success(data, "/init_weights_update_group")

    async def aupdate_weights_from_distributed(
        self, names: list[str], dtypes: list[str], shapes: list[list[int]], version: int,
        group_name: str = "weight_update_group",
    ) -> None:
        """Receive the named tensors the trainer broadcasts over the group and set `version`.

        The trainer must start its broadcast concurrently with this call. Same interrupt / resume
        rules as `aupdate_weights`.
        """
        body = {"names": names, "dtypes": dtypes, "shapes": shapes, "group_name": group_name,
                "flush_cache": True, "weight_version": str(version)}

        async def load() -> None:
            data = await self._apost("/update_weights_from_distributed", body)
            _check_success(data, "/update_weights_from_distributed")

        await self._aswap(load, version)

    async def apause(self, mode: Literal["abort", "retract", "in_place"] = "abort") -> None:
        """POST /pause_generation: stop scheduling (mode says what happens to running requests)."""
        await self._apost("/pause_generation", {"mode": mode})

    async def acontinue(self) -> None:
        """POST /continue_generation: resume scheduling after `apause`."""
        await self._apost("/continue_generation", {})


def parse_generate(data: dict[str, Any]) -> Chunk:
    """A `Chunk` from SGLang's /generate answer (`text`, `output_ids`, `meta_info`)."""
    meta = data.get("meta_info") or {}
    entries = meta.get("output_token_logprobs") or []
    ids = [int(e[1]) for e in entries]
    logprobs = [float(e[0]) for e in entries]
    if not entries and data.get("output_ids") is not None:
        ids, logprobs = list(data["output_ids"]), []
    reason = meta.get("finish_reason") or {}
    kind = reason.get("type") if isinstance(reason, dict) else reason
    finish: FinishReason = kind if kind in ("stop", "length", "abort") else "stop"
    return Chunk(ids=ids, logprobs=logprobs, text=data.get("text") or "", finish=finish)


def _check_success(data: dict[str, Any], what: str) -> None:
    if not data.get("success", False):
        raise RuntimeError(f"{what} failed: {data.get('message', data)}")
