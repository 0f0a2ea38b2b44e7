"""SGLangEngine against a local fake of SGLang's native API (fake_sglang_server.py): SGLang needs a
CUDA GPU and cannot run here. The fake speaks the documented request/response shapes, so what is
tested is the engine's real HTTP code, its version bookkeeping and its interrupt/resume loop. The
real-server test at the bottom is marked `gpu` and needs ASEARCHER_SGLANG_URL."""

import asyncio
import os

import pytest
from fake_sglang_server import FakeSGLangServer, logprob_of, next_token

from asearcher.api import GenRequest, InferenceEngine
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.config import EngineConfig
from asearcher.engines.remote import EngineUnavailable
from asearcher.engines.sglang_engine import SGLangEngine

PROMPT = list(b"Question: where? ")


@pytest.fixture
def server():
    srv = FakeSGLangServer(token_delay_s=0.01)
    yield srv
    srv.stop()


@pytest.fixture
async def engine(server):
    eng = SGLangEngine(server.url, EngineConfig(retries=0), tokenizer=ByteTokenizer())
    yield eng
    await eng.aclose()


def expected_tokens(weights: str, prompt: list[int], n: int) -> list[int]:
    out: list[int] = []
    for _ in range(n):
        out.append(next_token(weights, prompt + out))
    return out


async def test_generate_reads_ids_logprobs_and_sends_documented_shape(engine, server) -> None:
    assert isinstance(engine, InferenceEngine)
    res = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=6, temperature=0.7, seed=3, rid="t1"))
    assert res.output_ids == expected_tokens("init", PROMPT, 6)
    assert res.logprobs == [logprob_of("init")] * 6
    assert res.versions == [0] * 6
    assert res.finish_reason == "length"
    assert res.text == ByteTokenizer().decode(res.output_ids)
    path, body = server.seen[-1]
    assert path == "/generate" and body["input_ids"] == PROMPT and body["return_logprob"] is True
    sp = body["sampling_params"]
    assert sp["max_new_tokens"] == 6 and sp["temperature"] == 0.7 and sp["sampling_seed"] == 3
    assert body["rid"].startswith("t1-")


async def test_stop_string_maps_finish_reason(engine, server) -> None:
    full = expected_tokens("init", PROMPT, 20)
    stop = bytes(full[3:5]).decode()
    res = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=20, stop=[stop]))
    assert res.finish_reason == "stop"
    assert stop in res.text and len(res.output_ids) <= 5


async def test_user_abort_returns_partial_output(engine, server) -> None:
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=500, rid="ab")))
    await server.await_tokens(3)
    assert engine.abort("ab")
    res = await task
    assert res.finish_reason == "abort"
    assert 0 < len(res.output_ids) < 500
    assert res.output_ids == expected_tokens("init", PROMPT, len(res.output_ids))
    assert ("/abort_request", {"rid": server.seen[0][1]["rid"]}) in server.seen
    assert not engine.abort("ab")  # no longer in flight


async def test_update_interrupts_and_resumes_under_new_version(engine, server) -> None:
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=40, rid="u")))
    await server.await_tokens(5)
    await engine.aupdate_weights("/ckpt/step1", version=1)
    assert engine.version == 1
    res = await task
    assert res.finish_reason == "length" and len(res.output_ids) == 40
    n_old = res.versions.count(0)
    assert 0 < n_old < 40 and res.versions == [0] * n_old + [1] * (40 - n_old)
    # Old-weight tokens continue exactly; new-weight tokens continue from prompt + partial output.
    old = expected_tokens("init", PROMPT, n_old)
    assert res.output_ids[:n_old] == old
    assert res.output_ids[n_old:] == expected_tokens("/ckpt/step1", PROMPT + old, 40 - n_old)
    assert res.logprobs == [logprob_of("init")] * n_old + [logprob_of("/ckpt/step1")] * (40 - n_old)
    # The weights changed only once nothing of ours was generating, and the resume asked for the rest.
    assert server.running_at_update == [0]
    update = [b for p, b in server.seen if p == "/update_weights_from_disk"]
    assert update == [{"model_path": "/ckpt/step1", "weight_version": "1"}]
    resumed = [b for p, b in server.seen if p == "/generate"][-1]
    assert resumed["input_ids"] == PROMPT + old and resumed["sampling_params"]["max_new_tokens"] == 40 - n_old


async def test_failed_update_keeps_version_and_resumes_on_old_weights(engine, server) -> None:
    server.fail_update = True
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=30)))
    await server.await_tokens(3)
    with pytest.raises(RuntimeError, match="injected failure"):
        await engine.aupdate_weights("/ckpt/bad", version=1)
    res = await task
    assert engine.version == 0 and res.versions == [0] * 30
    assert res.output_ids == expected_tokens("init", PROMPT, 30)


async def test_nccl_path_request_shapes(engine, server) -> None:
    await engine.ainit_weights_update_group("10.0.0.1", 29500, rank_offset=1, world_size=2)
    await engine.aupdate_weights_from_distributed(["w.a", "w.b"], ["bfloat16", "float32"], [[2, 3], [4]], version=5)
    assert engine.version == 5
    init = [b for p, b in server.seen if p == "/init_weights_update_group"][0]
    assert init == {"master_address": "10.0.0.1", "master_port": 29500, "rank_offset": 1, "world_size": 2,
                    "group_name": "weight_update_group", "backend": "nccl"}
    upd = [b for p, b in server.seen if p == "/update_weights_from_distributed"][0]
    assert upd["names"] == ["w.a", "w.b"] and upd["shapes"] == [[2, 3], [4]] and upd["weight_version"] == "5"
    res = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2))
    assert res.versions == [5, 5] and res.logprobs == [logprob_of("nccl:w.a,w.b")] * 2


async def test_pause_continue_and_health(engine, server) -> None:
    assert await engine.ahealth()
    await engine.apause("retract")
    await engine.acontinue()
    assert ("/pause_generation", {"mode": "retract"}) in server.seen and ("/continue_generation", {}) in server.seen
    server.healthy = False
    assert not await engine.ahealth()


async def test_dead_server_raises_engine_unavailable(server) -> None:
    eng = SGLangEngine(server.url, EngineConfig(retries=1, retry_backoff_s=0.01))
    server.fail_generate_with = 503
    with pytest.raises(EngineUnavailable, match="503"):
        await eng.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2))
    server.stop()
    with pytest.raises(EngineUnavailable):
        await eng.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2))
    assert not await eng.ahealth()
    await eng.aclose()


@pytest.mark.gpu
async def test_real_sglang_server_roundtrip() -> None:
    """Against a real server: ASEARCHER_SGLANG_URL=http://host:port (GPU machines only)."""
    url = os.environ.get("ASEARCHER_SGLANG_URL")
    if not url:
        pytest.skip("set ASEARCHER_SGLANG_URL to a running SGLang server")
    eng = SGLangEngine(url, EngineConfig())
    res = await eng.agenerate(GenRequest(input_ids=[1, 2, 3, 4], max_new_tokens=8, temperature=1.0))
    assert len(res.output_ids) == len(res.logprobs) > 0 and all(lp <= 0 for lp in res.logprobs)
    await eng.aclose()


def test_sglang_server_never_inherits_the_t1_logprob_switch(monkeypatch, tmp_path):
    """SGLANG_RETURN_ORIGINAL_LOGPROB=1 would make the server report T = 1 logprobs (module docstring): a server
    we launch for training drops it from its environment, and keeps the rest."""
    from asearcher.engines.sglang_engine import SGLangServer

    monkeypatch.setenv("SGLANG_RETURN_ORIGINAL_LOGPROB", "1")
    env = SGLangServer(tmp_path, env={"HF_HUB_OFFLINE": "1"}).environment()
    assert "SGLANG_RETURN_ORIGINAL_LOGPROB" not in env and env["HF_HUB_OFFLINE"] == "1" and "PATH" in env


async def test_weights_are_loaded_from_a_folder_and_a_file_is_refused(engine, server) -> None:
    """DiskWeightSync hands every engine (local and Ray runs) the version's folder; SGLang loads a folder's
    safetensors and would take a file's path for a Hub id, so a file is our bug: it raises before the server
    is asked."""
    await engine.aupdate_weights("/run/weights/v3", version=3)
    with pytest.raises(ValueError, match="folder"):
        await engine.aupdate_weights("/run/weights/v4/model.safetensors", version=4)
    update = [b for p, b in server.seen if p == "/update_weights_from_disk"]
    assert update == [{"model_path": "/run/weights/v3", "weight_version": "3"}]
