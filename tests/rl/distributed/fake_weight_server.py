"""A stand-in inference server that really receives weights over a torch.distributed group (gloo), for
tests of rl/distributed/nccl_sync.py. Run as a child process: `python fake_weight_server.py vllm|sglang PORT`.

Why a fake: vLLM and SGLang need CUDA GPUs to receive over NCCL and cannot run here. What is fake is
only their HTTP layer and their model: the vLLM flavour calls our real worker extension
(`WeightUpdateExtension`, the code vLLM runs) on a stand-in worker whose model loads weights by name,
as vLLM's loaders do; the SGLang flavour follows SGLang's documented `/init_weights_update_group` and
`/update_weights_from_distributed` semantics (one broadcast per tensor, loaded as it arrives, the
`weight_version` set by the request that carries it).

Test hooks: POST /debug/fail_chunk {"index": k} makes the k-th chunk's request fail after its tensors
were received (as a worker that raises after the broadcast would); GET /debug/log lists, per chunk
request, the server's weight version and a checksum of its weights at that moment; POST /debug/save
{"path"} writes the model's state dict.
"""

from __future__ import annotations

import asyncio
import os
import sys
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from asearcher.engines.vllm_ext import WeightUpdateExtension
from asearcher.engines.weight_stream import init_weight_group


def make_model() -> torch.nn.Module:
    """The served model: mixed dtypes and a buffer, seeded so the test knows the initial weights."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(64, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, 64))
    model[1].to(torch.bfloat16)
    model.register_buffer("scale", torch.ones(3))
    return model


class StandInModel:
    """What vLLM's model offers the extension: `load_weights(iterable of (name, tensor))`."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def load_weights(self, weights: Any) -> None:
        state = self.module.state_dict()
        for name, tensor in weights:
            state[name].copy_(tensor)  # KeyError for an unknown name, like a vLLM loader


class StandInWorker(WeightUpdateExtension):
    """A vLLM worker as the extension sees it: `rank`, `device`, `model_runner.model`."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.rank = 0
        # The gpu test receives over NCCL on another GPU than the trainer's (NCCL needs one per rank).
        self.device = torch.device(os.environ.get("FAKE_WEIGHT_DEVICE", "cpu"))
        self.model_runner = SimpleNamespace(model=StandInModel(module))


def checksum(module: torch.nn.Module) -> float:
    return float(sum(t.double().sum() for t in module.state_dict().values()))


def build_app(kind: str) -> FastAPI:
    app = FastAPI()
    module = make_model()
    worker = StandInWorker(module)
    state: dict[str, Any] = {"version": "0", "fail_chunk": None, "log": [], "group": None, "chunk": 0}

    @app.get("/health")
    async def health():
        return {}

    @app.post("/debug/fail_chunk")
    async def fail_chunk(req: Request):
        state["fail_chunk"] = (await req.json())["index"]
        return {}

    @app.get("/debug/log")
    async def get_log():
        return state["log"]

    @app.post("/debug/save")
    async def save(req: Request):
        torch.save(module.state_dict(), (await req.json())["path"])
        return {"version": state["version"]}

    def note_chunk(index: int) -> None:
        state["log"].append({"index": index, "version": state["version"], "checksum": checksum(module)})

    # ---- vLLM dev-mode endpoints ----
    @app.post("/collective_rpc")
    async def rpc(req: Request):
        body = await req.json()
        method, args = body["method"], body.get("args", [])
        if method == "receive_weight_chunk":
            note_chunk(int(args[0]))
        try:
            result = await asyncio.to_thread(getattr(worker, method), *args)
        except Exception as exc:  # noqa: BLE001 (vLLM answers a worker's exception with a 500)
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)
        if method == "receive_weight_chunk" and state["fail_chunk"] == int(args[0]):
            return JSONResponse({"error": "injected failure after the chunk arrived"}, status_code=500)
        return {"results": [result]}

    @app.post("/reset_prefix_cache")
    async def reset():
        return {}

    @app.post("/update_weight_version")
    async def set_version(req: Request):
        state["version"] = (await req.json())["new_version"]
        return {}

    @app.get("/weight_info")
    async def info():
        return {"weight_version": state["version"]}

    # ---- SGLang endpoints ----
    @app.post("/init_weights_update_group")
    async def init_group(req: Request):
        b = await req.json()
        state["group"] = await asyncio.to_thread(init_weight_group, b["backend"], b["master_address"],
                                                 int(b["master_port"]), int(b["rank_offset"]),
                                                 int(b["world_size"]), b["group_name"], 30.0)
        return {"success": True, "message": "ok"}

    @app.post("/update_weights_from_distributed")
    async def update_dist(req: Request):
        b = await req.json()
        index = state["chunk"]
        note_chunk(index)

        def receive() -> None:
            params = module.state_dict()
            for name, dtype, shape in zip(b["names"], b["dtypes"], b["shapes"], strict=True):
                t = torch.empty(shape, dtype=getattr(torch, dtype))
                dist.broadcast(t, src=0, group=state["group"])
                params[name].copy_(t)  # SGLang loads each tensor as it arrives

        await asyncio.to_thread(receive)
        state["chunk"] = 0 if b.get("weight_version") is not None else index + 1
        if state["fail_chunk"] == index:
            return {"success": False, "message": "injected failure after the chunk arrived"}
        if b.get("weight_version") is not None:
            state["version"] = b["weight_version"]
        return {"success": True, "message": "ok"}

    @app.get("/get_weight_version")
    async def sglang_version():
        return {"weight_version": state["version"]}

    return app


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(build_app(kind), host="127.0.0.1", port=port, log_level="error")
