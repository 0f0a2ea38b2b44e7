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
