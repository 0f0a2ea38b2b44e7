import pytest

from asearcher.api import GenRequest
from asearcher.engines.config import EngineConfig
from asearcher.engines.embedded import load_causal_lm
from asearcher.engines.factory import check_engine_spec, make_engine
from asearcher.engines.openai_http import OpenAIEngine
from asearcher.engines.transformers_engine import TransformersEngine
from asearcher.errors import UserError
from tiny_hf import tiny_hf_folder


def test_url_gives_openai_engine():
    eng = make_engine("http://127.0.0.1:9/v1", config=EngineConfig(model="m"))
    assert isinstance(eng, OpenAIEngine) and eng.base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("spec", ["no/such/model", "gpt-4o", "ftp://x"])
def test_unknown_spec_is_a_user_error_naming_it(spec):
    with pytest.raises(UserError, match=spec.replace("/", ".")):
        make_engine(spec, config=EngineConfig())


@pytest.mark.parametrize(("spec", "message"), [
    ("http://", "has no host"), ("http://[::1", "malformed URL"), ("/nonexistent/model", "no such path"),
])
def test_check_engine_spec_refuses_without_building_anything(spec, message):
    with pytest.raises(UserError, match=message):
        check_engine_spec(spec, EngineConfig())


def test_check_engine_spec_accepts_urls_and_existing_models(tmp_path):
    assert check_engine_spec("http://127.0.0.1:9/v1") is None
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")  # only its name and existence are checked
    assert check_engine_spec(str(gguf)) == gguf
    assert check_engine_spec(str(tmp_path), EngineConfig(backend="transformers")) == tmp_path
    with pytest.raises(UserError, match="needs a .gguf file"):
        check_engine_spec(str(tmp_path), EngineConfig(backend="llamacpp"))


def test_missing_model_path_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_causal_lm(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        load_causal_lm(tmp_path / "empty")


async def test_model_folder_gives_working_transformers_engine(tmp_path):
    eng = make_engine(str(tiny_hf_folder(tmp_path / "tiny")), config=EngineConfig(max_batch_size=2))
    assert isinstance(eng, TransformersEngine)
    out = await eng.agenerate(GenRequest(messages=[{"role": "user", "content": "hi"}], max_new_tokens=5))
    assert 1 <= len(out.output_ids) <= 5 and out.text == eng.tokenizer.decode(out.output_ids)
    await eng.aclose()


# ---- rollout servers: backend vllm / sglang (fake SGLang server: SGLang needs a GPU) --------------


async def test_sglang_backend_builds_a_routed_engine_over_several_servers(tmp_path):
    from fake_sglang_server import FakeSGLangServer, next_token

    from asearcher.engines.router import RoutedEngine
    from asearcher.engines.sglang_engine import SGLangEngine

    servers = [FakeSGLangServer(token_delay_s=0.0), FakeSGLangServer(token_delay_s=0.0)]
    try:
        folder = str(tiny_hf_folder(tmp_path / "tiny"))  # gives the tokenizer
        eng = make_engine(folder, config=EngineConfig(backend="sglang", servers=[s.url for s in servers], retries=0))
        assert isinstance(eng, RoutedEngine) and all(isinstance(e, SGLangEngine) for e in eng.engines)
        assert [e.base_url for e in eng.engines] == [s.url for s in servers]
        prompt = eng.tokenizer.chat_ids([{"role": "user", "content": "hi"}])
        out = await eng.agenerate(GenRequest(input_ids=prompt, max_new_tokens=3, rid="traj-1"))
        assert out.output_ids[0] == next_token("init", prompt) and out.text == eng.tokenizer.decode(out.output_ids)
        await eng.aclose()
        one = make_engine(servers[0].url, config=EngineConfig(backend="sglang"))  # a URL spec, no tokenizer
        assert isinstance(one, SGLangEngine) and one.base_url == servers[0].url and one.tokenizer is None
        await one.aclose()
    finally:
        for s in servers:
            s.stop()


def test_vllm_backend_with_a_url_gives_vllm_engine():
    from asearcher.engines.vllm_engine import VLLMEngine

    eng = make_engine("http://10.0.0.5:8000/v1", config=EngineConfig(backend="vllm", model="m"))
    assert isinstance(eng, VLLMEngine) and eng.base_url == "http://10.0.0.5:8000"


@pytest.mark.parametrize(("spec", "overrides", "message"), [
    (None, {"backend": "vllm"}, "needs engine.servers"),
    (None, {"backend": "sglang", "launch": True}, "engine.launch=true with a model folder"),
    (None, {"backend": "vllm", "servers": ["10.0.0.5:8000"]}, "engine.servers entry '10.0.0.5:8000'"),
    ("/no/such/model", {"backend": "vllm", "servers": ["http://h:1"]}, "no such path"),
    ("http://h:1", {"backend": "vllm", "launch": True}, "leave engine.servers empty"),
])
def test_remote_backend_misconfigurations_are_user_errors(spec, overrides, message):
    with pytest.raises(UserError, match=message):
        check_engine_spec(spec, EngineConfig(**overrides))


def test_launch_needs_only_a_model_folder(tmp_path):
    # Starting the server needs vLLM / SGLang (tests/engines/test_vllm_cpu_slow.py runs vLLM); the spec check does not.
    assert check_engine_spec(str(tmp_path), EngineConfig(backend="vllm", launch=True)) == tmp_path
    assert check_engine_spec(str(tmp_path), EngineConfig(backend="sglang", launch=True)) == tmp_path
