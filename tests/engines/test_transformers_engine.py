import asyncio

import pytest
import torch

from asearcher.api import GenRequest, InferenceEngine
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.transformers_engine import TransformersEngine
from tiny_model import tiny_llama


def no_eos_tokenizer():
    """A random model emits EOS early and often; without an EOS id, lengths are under test control."""
    tok = ByteTokenizer()
    tok.eos_token_id = None
    return tok


@pytest.fixture
def engine():
    return TransformersEngine(tiny_llama(), no_eos_tokenizer(), max_batch_size=4)


def reference_greedy(model, prompt, n):
    """Plain transformers: full forward pass, argmax, no cache, no batching."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids])).logits[0, -1]
            ids.append(int(logits.argmax()))
    return ids[len(prompt) :]


async def test_greedy_equals_plain_forward_argmax_loop(engine):
    tok = engine.tokenizer
    prompt = tok.encode("Hello there, agent.")
    out = await engine.agenerate(GenRequest(input_ids=prompt, max_new_tokens=40, temperature=0.0))
    assert out.output_ids == reference_greedy(engine.model, prompt, 40)
    assert out.finish_reason == "length"
    assert out.text == tok.decode(out.output_ids)
    assert isinstance(engine, InferenceEngine)


async def test_batched_greedy_equals_unbatched(engine):
    tok = engine.tokenizer
    prompts = [tok.encode(t) for t in ["a", "a much longer prompt here", "mid length", "<search>x</search>"]]
    alone = [await engine.agenerate(GenRequest(input_ids=p, max_new_tokens=10, temperature=0.0)) for p in prompts]
    together = await asyncio.gather(
        *(engine.agenerate(GenRequest(input_ids=p, max_new_tokens=10, temperature=0.0)) for p in prompts)
    )
    assert [r.output_ids for r in together] == [r.output_ids for r in alone]
    for a, b in zip(alone, together):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


async def test_logprobs_match_recomputed_forward_pass(engine):
    # Tolerance 1e-4: cached, batched decoding vs one full forward pass differ only by fp32 rounding.
    tok = engine.tokenizer
    prompt = tok.encode("recompute me")
    reqs = [GenRequest(input_ids=prompt, max_new_tokens=16, temperature=t, seed=7) for t in (0.7, 1.3)]
    for req, out in zip(reqs, await asyncio.gather(*(engine.agenerate(r) for r in reqs))):
        full = torch.tensor([prompt + out.output_ids])
        with torch.no_grad():
            logits = engine.model(full).logits[0, len(prompt) - 1 : -1]
        ref = torch.log_softmax(logits / req.temperature, dim=-1)
        ref = ref[torch.arange(len(out.output_ids)), torch.tensor(out.output_ids)]
        assert out.logprobs == pytest.approx(ref.tolist(), abs=1e-4)


async def test_seeded_sampling_is_reproducible(engine):
    prompt = engine.tokenizer.encode("seed")
    req = lambda s: GenRequest(input_ids=prompt, max_new_tokens=20, temperature=1.0, top_p=0.9, seed=s)  # noqa: E731
    a, b, c = await asyncio.gather(engine.agenerate(req(1)), engine.agenerate(req(1)), engine.agenerate(req(2)))
    assert a.output_ids == b.output_ids
    assert a.output_ids != c.output_ids


async def test_stop_string_kept_and_ids_exact():
    # A scripted "model" would not exercise the engine; instead find, under greedy decoding, a
    # substring the tiny model really produces and use it as the stop string.
    eng = TransformersEngine(tiny_llama(), no_eos_tokenizer())
    prompt = eng.tokenizer.encode("stop test")
    free = await eng.agenerate(GenRequest(input_ids=prompt, max_new_tokens=30, temperature=0.0))
    stop = free.text[5:8]
    out = await eng.agenerate(GenRequest(input_ids=prompt, max_new_tokens=30, temperature=0.0, stop=[stop]))
    assert out.finish_reason == "stop"
    assert out.text.endswith(stop) and out.text == free.text[: len(out.text)]
    assert out.output_ids == free.output_ids[: len(out.output_ids)]


async def test_eos_stops_generation():
    eng = TransformersEngine(tiny_llama(), ByteTokenizer())
    ref = reference_greedy(eng.model, [1, 2, 3], 30)
    eos = eng.tokenizer.eos_token_id
    assert eos in ref  # this random model does emit EOS; if it stops doing so, pick another prompt
    out = await eng.agenerate(GenRequest(input_ids=[1, 2, 3], max_new_tokens=30, temperature=0.0))
    assert out.output_ids == ref[: ref.index(eos) + 1] and out.finish_reason == "stop"


async def test_max_new_tokens_gives_length(engine):
    out = await engine.agenerate(GenRequest(input_ids=[1, 2, 3], max_new_tokens=3, temperature=0.5))
    assert out.finish_reason == "length" and len(out.output_ids) == 3


async def test_weight_update_mid_generation_switches_versions():
    eng = TransformersEngine(tiny_llama(0), no_eos_tokenizer())
    new_weights = {k: v.clone() for k, v in tiny_llama(1).state_dict().items()}
    param_ids = {k: id(p) for k, p in eng.model.named_parameters()}
    prompt = eng.tokenizer.encode("versions")
    task = asyncio.create_task(eng.agenerate(GenRequest(input_ids=prompt, max_new_tokens=400, temperature=0.0)))
    while not eng._active or len(eng._active[0].out) < 5:
        await asyncio.sleep(0.001)
    await eng.aupdate_weights(new_weights, version=1)
    out = await task
    assert eng.version == 1
    switch = out.versions.index(1)
    assert switch >= 5 and set(out.versions[:switch]) == {0} and set(out.versions[switch:]) == {1}
    # After the switch the tokens are what the NEW weights produce from prompt + partial output.
    ctx = prompt + out.output_ids[:switch]
    ref = reference_greedy(eng.model, ctx, min(5, len(out.output_ids) - switch))
    assert out.output_ids[switch : switch + len(ref)] == ref
    # Replaced in place: same parameter objects, new values.
    assert {k: id(p) for k, p in eng.model.named_parameters()} == param_ids
    assert all(torch.equal(p, new_weights[k]) for k, p in eng.model.named_parameters())


async def test_abort_returns_partial_output(engine):
    prompt = engine.tokenizer.encode("abort me")
    task = asyncio.create_task(engine.agenerate(GenRequest(input_ids=prompt, max_new_tokens=500, rid="r1")))
    while not engine._active or len(engine._active[0].out) < 3:
        await asyncio.sleep(0.001)
    assert engine.abort("r1")
    out = await task
    assert out.finish_reason == "abort"
    assert 3 <= len(out.output_ids) < 500 and len(out.logprobs) == len(out.output_ids)
    assert not engine.abort("r1")


async def test_requests_joining_and_leaving_a_running_batch_match_reference(engine):
    # Exercises the cache merge (a late request joins rows of another length) and row removal.
    tok = engine.tokenizer
    p1, p2, p3 = tok.encode("first, long running"), tok.encode("late"), tok.encode("short one")
    t1 = asyncio.create_task(engine.agenerate(GenRequest(input_ids=p1, max_new_tokens=60, temperature=0.0)))
    t3 = asyncio.create_task(engine.agenerate(GenRequest(input_ids=p3, max_new_tokens=4, temperature=0.0)))
    while not engine._active or len(engine._active[0].out) < 8:
        await asyncio.sleep(0.001)
    out2 = await engine.agenerate(GenRequest(input_ids=p2, max_new_tokens=20, temperature=0.0))
    out1, out3 = await t1, await t3
    assert out1.output_ids == reference_greedy(engine.model, p1, 60)
    assert out2.output_ids == reference_greedy(engine.model, p2, 20)
    assert out3.output_ids == reference_greedy(engine.model, p3, 4)


def test_prefill_groups_bound_padding():
    from asearcher.engines.transformers_engine import prefill_groups

    assert prefill_groups([]) == []
    assert prefill_groups([100, 101, 99]) == [[2, 0, 1]]  # similar lengths: one batch
    groups = prefill_groups([35, 2000, 40, 1900])
    assert groups == [[0, 2], [3, 1]]
    for g in groups:
        lens = [[35, 2000, 40, 1900][i] for i in g]
        assert max(lens) * len(lens) - sum(lens) <= 0.25 * sum(lens)
