"""Prefix KV cache: reused keys/values give the same tokens and logprobs as recomputing everything."""

import asyncio

import pytest
import torch

from asearcher.api import GenRequest
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.prefix_cache import PrefixCache
from asearcher.engines.transformers_engine import TransformersEngine
from tiny_model import tiny_llama


def no_eos_tokenizer():
    tok = ByteTokenizer()
    tok.eos_token_id = None  # lengths under test control
    return tok


def engines(max_batch_size=8):
    """Two engines over the same weights: one with the prefix cache, one without (the reference)."""
    model = tiny_llama()
    return (TransformersEngine(model, no_eos_tokenizer(), max_batch_size=max_batch_size),
            TransformersEngine(model, no_eos_tokenizer(), max_batch_size=max_batch_size, prefix_cache_tokens=0))


async def episode(engine, question: str, turns: int, seed: int):
    """An agent-like episode: each turn's prompt is the last prompt + its output + an observation."""
    tok = engine.tokenizer
    ctx, outs = tok.encode(f"Question: {question}\n"), []
    for turn in range(turns):
        res = await engine.agenerate(GenRequest(input_ids=list(ctx), max_new_tokens=6 + 3 * turn, temperature=1.0,
                                                seed=seed + turn))
        outs.append(res)
        ctx += res.output_ids + tok.encode(f"\n<obs {turn}>" + "x" * (5 * turn + seed % 7) + "\n")
    return outs


def assert_same(a, b):
    assert [r.output_ids for r in a] == [r.output_ids for r in b]
    for x, y in zip(a, b):
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)  # fp32 rounding of batched vs cached passes


async def test_multi_turn_episode_reuses_its_prefix_and_samples_the_same_tokens():
    cached, plain = engines()
    a = await episode(cached, "who painted the Mona Lisa?", turns=4, seed=3)
    b = await episode(plain, "who painted the Mona Lisa?", turns=4, seed=3)
    assert_same(a, b)
    assert plain.reused_tokens == 0 and cached.reused_tokens > 0
    assert cached.prefill_tokens < plain.prefill_tokens / 2  # turns 2-4 ran only their new tokens


async def test_concurrent_episodes_mixing_cached_and_fresh_rows_match_the_uncached_engine():
    """Rows joining with prefixes of different lengths (masked columns between prefix and new tokens)
    and fresh rows share one batch; every row must decode exactly as without the cache."""
    cached, plain = engines(max_batch_size=5)
    specs = [(f"question number {i} " + "?" * i, 2 + i % 3, 11 * i) for i in range(7)]
    a = await asyncio.gather(*(episode(cached, q, t, s) for q, t, s in specs))
    b = await asyncio.gather(*(episode(plain, q, t, s) for q, t, s in specs))
    for x, y in zip(a, b):
        assert_same(x, y)
    assert cached.reused_tokens > 0


async def test_weight_update_empties_the_cache():
    cached, _ = engines()
    await episode(cached, "first", turns=2, seed=1)
    assert len(cached.prefix_cache) > 0
    state = {k: v + 0.01 for k, v in cached.model.state_dict().items()}
    await cached.aupdate_weights(state, version=1)
    assert len(cached.prefix_cache) == 0
    fresh = TransformersEngine(cached.model, no_eos_tokenizer(), prefix_cache_tokens=0)  # new weights, no cache
    assert_same(await episode(cached, "first", turns=2, seed=1), await episode(fresh, "first", turns=2, seed=1))


def kv(n):
    return [torch.zeros(1, 1, n, 2)], [torch.zeros(1, 1, n, 2)]


def test_lookup_finds_the_longest_shared_prefix_and_leaves_one_token_to_run():
    cache = PrefixCache(max_tokens=1000, block=4)
    cache.store(list(range(10)), *kv(10))
    cache.store(list(range(20)), *kv(20))
    entry, n = cache.lookup(list(range(15)) + [99, 98])
    assert len(entry) == 20 and n == 15
    entry, n = cache.lookup(list(range(20)))  # a full match still runs the last token
    assert n == 19
    assert cache.lookup([5, 6, 7, 8, 9]) == (None, 0)  # no shared first block
    assert cache.lookup([0, 1, 2, 7, 7, 7]) == (None, 0)  # shorter than a block


def test_an_extension_replaces_its_prefix_and_the_token_budget_evicts_least_recently_used():
    cache = PrefixCache(max_tokens=30, block=4)
    cache.store(list(range(8)), *kv(8))
    first, _ = cache.lookup(list(range(8)) + [1])
    cache.store(list(range(12)), *kv(12), replaces=first)  # the next turn of the same episode
    assert len(cache) == 1 and cache.tokens == 12
    cache.store([50 + i for i in range(12)], *kv(12))
    cache.lookup(list(range(12)) + [1])  # touch the first: the other becomes least recently used
    cache.store([90 + i for i in range(8)], *kv(8))  # 32 > 30 tokens: evict one
    assert cache.tokens == 20
    assert cache.lookup([50 + i for i in range(12)] + [1]) == (None, 0)
    assert cache.lookup(list(range(12)) + [1])[1] == 12
    assert PrefixCache(max_tokens=0).enabled is False


def test_prefill_after_with_prefixes_and_suffixes_of_different_lengths_matches_full_prefill():
    """Rows whose reused prefix and new tokens differ in length leave masked columns between them;
    logits after the prefill and after one decode step must equal a plain prefill of each whole context."""
    from asearcher.engines.kv_batch import KVBatch

    model = tiny_llama()
    gen = torch.Generator().manual_seed(0)
    contexts = [torch.randint(3, 200, (n,), generator=gen).tolist() for n in (30, 47, 23)]
    cut = [20, 44, 9]  # suffixes of 10, 3 and 14 tokens
    with torch.no_grad():
        prefixes = []
        for ctx, n in zip(contexts, cut):
            alone, _ = KVBatch.prefill(model, [ctx[:n]], pad_id=0)
            prefixes.append((*alone.row_kv(0), n))
        batch, logits = KVBatch.prefill_after(model, prefixes, [c[n:] for c, n in zip(contexts, cut)], pad_id=0)
        step = batch.decode(model, [5, 6, 7])
        for i, ctx in enumerate(contexts):
            ref, ref_logits = KVBatch.prefill(model, [ctx], pad_id=0)
            assert torch.allclose(logits[i], ref_logits[0], atol=1e-4)
            assert torch.allclose(step[i], ref.decode(model, [5 + i])[0], atol=1e-4)
    assert (batch.mask.sum(-1) == torch.tensor([31, 48, 24])).all()  # real tokens only count
