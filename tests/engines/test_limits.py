"""Engines report their context length and turn a server's context-overflow reply into a typed error.

The servers are local fakes speaking llama.cpp's, vLLM's and OpenAI's wire formats (none of those
servers can run in CI here); the engines' HTTP code under test is the real one.
"""

import pytest
from http_fakes import LLAMACPP_OVERFLOW, VLLM_OVERFLOW, FakeServer, fixed, openai_model
from tiny_model import tiny_llama

from asearcher.api import ContextLimitError, GenRequest
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.config import EngineConfig
from asearcher.engines.limits import aengine_context_length, context_length_from_models, is_context_overflow
from asearcher.engines.llamacpp_server import slot_context
from asearcher.engines.openai_http import HTTPEngineError, OpenAIEngine
from asearcher.engines.router import RoutedEngine
from asearcher.engines.scripted import ScriptedEngine
from asearcher.engines.transformers_engine import TransformersEngine
from asearcher.engines.vllm_engine import VLLMEngine

CFG = EngineConfig(model="fake-model", retries=2, retry_backoff_s=0.01, mode="chat")


@pytest.mark.parametrize("message", [
    LLAMACPP_OVERFLOW["error"]["message"],
    VLLM_OVERFLOW["message"],
    "Error code: 400 - {'error': {'code': 'context_length_exceeded'}}",
    "The prompt (length 9000) is longer than the maximum model length of 8192.",
    "The input (9000 tokens) is longer than the model's context length (8192 tokens).",
])
def test_overflow_messages_of_each_server_are_recognised(message):
    assert is_context_overflow(message)


@pytest.mark.parametrize("message", ["model not found", "invalid temperature -1", "rate limit exceeded"])
def test_other_refusals_are_not_overflows(message):
    assert not is_context_overflow(message)


def test_context_length_from_a_models_listing():
    listing = {"data": [{"id": "a", "max_model_len": 4096}, {"id": "b", "context_length": 131072}]}
    assert context_length_from_models(listing) == 4096  # no name: the first (the only one a server hosts)
    assert context_length_from_models(listing, "b") == 131072
    assert context_length_from_models({"data": [{"id": "a"}]}) is None  # the server does not tell
    assert context_length_from_models({"data": [{"id": "a", "max_model_len": True}]}) is None
    assert context_length_from_models(["not", "a", "listing"]) is None


def test_llamacpp_slot_is_its_share_of_the_context():
    assert slot_context(EngineConfig(n_ctx=8192, n_parallel=4)) == 2048
    assert slot_context(EngineConfig(n_ctx=8192, n_parallel=1)) == 8192


@pytest.mark.parametrize("refusal", [LLAMACPP_OVERFLOW, VLLM_OVERFLOW])
async def test_openai_engine_raises_context_limit_on_overflow_reply(refusal):
    with FakeServer(openai_model(refuse=refusal)) as srv:
        engine = OpenAIEngine(srv.url, CFG)
        with pytest.raises(ContextLimitError) as info:
            await engine.agenerate(GenRequest(messages=[{"role": "user", "content": "x"}]))
        await engine.aclose()
    assert isinstance(info.value, HTTPEngineError)  # still an engine refusal for code that catches those
    assert len(srv.seen) == 1  # a 4xx is never retried


async def test_other_4xx_stays_a_plain_engine_error():
    with FakeServer(fixed(400, {"error": {"message": "invalid temperature"}})) as srv:
        engine = OpenAIEngine(srv.url, CFG)
        with pytest.raises(HTTPEngineError) as info:
            await engine.agenerate(GenRequest(messages=[{"role": "user", "content": "x"}]))
        await engine.aclose()
    assert not isinstance(info.value, ContextLimitError)


async def test_openai_engine_reads_max_model_len_then_llamacpp_props():
    vllm_like = openai_model(models={"data": [{"id": "fake-model", "max_model_len": 32768}]})
    llamacpp_like = openai_model(props={"default_generation_settings": {"n_ctx": 2048}, "total_slots": 4})
    silent = openai_model()
    found = []
    for responder in (vllm_like, llamacpp_like, silent):
        with FakeServer(responder) as srv:
            engine = OpenAIEngine(srv.url + "/v1", CFG)
            found.append(await aengine_context_length(engine))
            await engine.acontext_length()  # asked once: no second round of requests
            asked = len(srv.seen)
            await engine.aclose()
    assert found == [32768, 2048, None]
    assert asked == 2  # the silent server: /v1/models, then /props


async def test_vllm_engine_and_router_report_the_smallest_server_window():
    with FakeServer(openai_model(models={"data": [{"id": "m", "max_model_len": 8192}]})) as a, \
         FakeServer(openai_model(models={"data": [{"id": "m", "max_model_len": 4096}]})) as b:
        engines = [VLLMEngine(a.url, EngineConfig()), VLLMEngine(b.url, EngineConfig())]
        assert await engines[0].acontext_length() == 8192
        routed = RoutedEngine(engines)
        assert await routed.acontext_length() == 4096
        await routed.aclose()


async def test_vllm_engine_raises_context_limit_on_overflow_reply():
    with FakeServer(openai_model(refuse=VLLM_OVERFLOW)) as srv:
        engine = VLLMEngine(srv.url, EngineConfig(model="m", retries=0))
        with pytest.raises(ContextLimitError):
            await engine.agenerate(GenRequest(input_ids=[1, 2, 3], max_new_tokens=4))
        await engine.aclose()


async def test_transformers_engine_reports_max_position_embeddings():
    engine = TransformersEngine(tiny_llama(), ByteTokenizer())
    assert await engine.acontext_length() == 1024  # tiny_llama's config
    await engine.aclose()


async def test_scripted_engine_refuses_like_vllm():
    engine = ScriptedEngine(["<answer>x</answer>"], context_length=10)
    assert await engine.acontext_length() == 10
    await engine.agenerate(GenRequest(input_ids=[1] * 6, max_new_tokens=4))  # exactly fits
    with pytest.raises(ContextLimitError, match="maximum context length is 10"):
        await engine.agenerate(GenRequest(input_ids=[1] * 7, max_new_tokens=4))


async def test_engines_without_a_probe_report_none():
    class Bare:
        tokenizer, version = None, 0

    assert await aengine_context_length(Bare()) is None

