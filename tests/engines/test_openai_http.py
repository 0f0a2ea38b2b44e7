"""OpenAIEngine against a local fake of an OpenAI-shaped model server (vLLM / a hosted API cannot run
in CI here; the fake speaks their wire format, so the engine's real HTTP code is what is tested)."""

import logging
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from asearcher.api import GenRequest
from asearcher.engines.config import EngineConfig
from asearcher.engines.openai_http import HTTPEngineError, OpenAIEngine

SECRET = "sk-test-secret-123"


class FakeServer:
    def __init__(self):
        self.seen: list[dict] = []
        self.fail_with: list[int] = []  # status codes to answer before succeeding
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            return {"data": [{"id": "fake-model"}]}

        @app.post("/v1/chat/completions")
        async def chat(req: Request):
            body = await req.json()
            self.seen.append({"headers": dict(req.headers), "body": body, "path": "chat"})
            if self.fail_with:
                code = self.fail_with.pop(0)
                return JSONResponse({"error": {"message": f"boom {code}"}}, status_code=code)
            msg = {"role": "assistant", "content": "hi there"}
            if body.get("tools"):
                msg = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}}]}
            content = [{"token": "token_id:11", "logprob": -0.5}, {"token": "token_id:12", "logprob": -0.25}]
            return {"choices": [{"message": msg, "finish_reason": "stop", "logprobs": {"content": content}}]}

        @app.post("/v1/completions")
        async def completions(req: Request):
            body = await req.json()
            self.seen.append({"headers": dict(req.headers), "body": body, "path": "completions"})
            if self.fail_with:
                code = self.fail_with.pop(0)
                return JSONResponse({"error": {"message": f"boom {code}"}}, status_code=code)
            n = body["max_tokens"]
            toks = [f"token_id:{100 + i}" for i in range(n)]
            lps = [-0.1 * (i + 1) for i in range(n)]
            return {"choices": [{"text": "x" * n, "finish_reason": "length",
                                 "logprobs": {"tokens": toks, "token_logprobs": lps}}]}

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="module")
def server():
    srv = FakeServer()
    yield srv
    srv.stop()


@pytest.fixture
def engine(server, monkeypatch):
    server.seen.clear()
    server.fail_with.clear()
    monkeypatch.setenv("MY_KEY", SECRET)
    cfg = EngineConfig(api_key_env="MY_KEY", retries=2, retry_backoff_s=0.01, mode="completions")
    return OpenAIEngine(f"http://127.0.0.1:{server.port}", cfg)


async def test_chat_parses_text_ids_logprobs_and_sends_key(engine, server):
    out = await engine.agenerate(GenRequest(messages=[{"role": "user", "content": "hi"}], stop=["</a>"], seed=3))
    assert out.text == "hi there" and out.output_ids == [11, 12] and out.logprobs == [-0.5, -0.25]
    assert out.versions == [0, 0] and out.finish_reason == "stop"
    sent = server.seen[-1]
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    assert sent["body"]["model"] == "fake-model" and sent["body"]["stop"] == ["</a>"] and sent["body"]["seed"] == 3
    assert sent["body"]["logprobs"] is True


async def test_completions_send_token_ids_and_parse_legacy_logprobs(engine, server):
    out = await engine.agenerate(GenRequest(input_ids=[5, 6, 7], max_new_tokens=3, temperature=0.0))
    assert server.seen[-1]["body"]["prompt"] == [5, 6, 7]
    assert out.output_ids == [100, 101, 102] and out.logprobs == pytest.approx([-0.1, -0.2, -0.3])
    assert out.finish_reason == "length"


async def test_tools_pass_through_and_tool_calls_return(engine, server):
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    out = await engine.agenerate(GenRequest(messages=[{"role": "user", "content": "q"}], tools=tools))
    assert server.seen[-1]["body"]["tools"] == tools
    assert out.tool_calls[0]["function"]["name"] == "search"


async def test_5xx_is_retried_then_succeeds(engine, server, caplog):
    server.fail_with[:] = [503, 500]
    with caplog.at_level(logging.DEBUG):
        out = await engine.agenerate(GenRequest(input_ids=[1], max_new_tokens=2))
    assert out.output_ids == [100, 101] and len(server.seen) == 3
    assert SECRET not in caplog.text and "503" in caplog.text


async def test_5xx_beyond_retries_raises(engine, server):
    server.fail_with[:] = [500, 500, 500, 500]
    with pytest.raises(HTTPEngineError, match="after 3 attempts"):
        await engine.agenerate(GenRequest(input_ids=[1], max_new_tokens=2))


async def test_4xx_raises_server_message_without_retry(engine, server):
    server.fail_with[:] = [400]
    with pytest.raises(HTTPEngineError, match="boom 400") as info:
        await engine.agenerate(GenRequest(input_ids=[1], max_new_tokens=2))
    assert len(server.seen) == 1
    assert SECRET not in str(info.value) and SECRET not in repr(engine)


async def test_transport_error_is_retried_and_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = OpenAIEngine(f"http://127.0.0.1:{port}", EngineConfig(model="m", retries=1, retry_backoff_s=0.01))
    with pytest.raises(HTTPEngineError, match="after 2 attempts; last: ConnectError"):
        await eng.agenerate(GenRequest(messages=[{"role": "user", "content": "x"}]))


async def test_a_read_timeout_is_not_retried():
    from http_fakes import hanging_server

    with hanging_server() as url:
        engine = OpenAIEngine(url, EngineConfig(model="m", timeout_s=0.5, retries=3, retry_backoff_s=0.01))
        start = time.perf_counter()
        with pytest.raises(HTTPEngineError, match="not retried"):
            await engine.agenerate(GenRequest(messages=[{"role": "user", "content": "x"}]))
        elapsed = time.perf_counter() - start
        await engine.aclose()
    assert elapsed < 1.5  # one 0.5 s wait, not four
