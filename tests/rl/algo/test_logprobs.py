"""Packed logprobs equal per-sequence logprobs on tiny random models; temperature and entropy."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from asearcher.rl.algo.logprobs import block_causal_mask, packed_logprobs

LENS = [5, 9, 1, 4]


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    kw = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64)
    return (Qwen2ForCausalLM(Qwen2Config(**kw)) if kind == "qwen2" else LlamaForCausalLM(LlamaConfig(**kw))).eval()


def _packed():
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(0, 97, (n,), generator=g) for n in LENS]
    cu = torch.tensor([0] + torch.cumsum(torch.tensor(LENS), 0).tolist(), dtype=torch.int32)
    pos = torch.cat([torch.arange(n) for n in LENS])
    return seqs, torch.cat(seqs), pos, cu


def _reference(model, seqs, temperature=1.0):
    """Unpacked, by hand: log_softmax(logits/T) at t-1 gathered at token t; 0 for the first token."""
    out = []
    for s in seqs:
        with torch.no_grad():
            lp = torch.log_softmax(model(input_ids=s[None]).logits[0].float() / temperature, -1)
        out.append(torch.cat([torch.zeros(1), lp[:-1].gather(-1, s[1:, None]).squeeze(-1)]))
    return torch.cat(out)


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
@pytest.mark.parametrize("method", ["block_mask", "position_ids", "loop", "auto"])
def test_packed_equals_unpacked(kind, method):
    model = _model(kind)
    seqs, ids, pos, cu = _packed()
    with torch.no_grad():
        got = packed_logprobs(model, ids, pos, cu, method=method).logp
    assert got.shape == ids.shape
    torch.testing.assert_close(got, _reference(model, seqs), atol=1e-5, rtol=0)
    assert got[cu[:-1].long()].abs().max() == 0


def test_packing_without_boundaries_would_differ():
    """Guard that the test above can fail: plain causal attention over the pack gives other values."""
    model = _model("qwen2")
    seqs, ids, pos, cu = _packed()
    with torch.no_grad():
        wrong = torch.log_softmax(model(input_ids=ids[None]).logits[0], -1)
    tok = wrong[:-1].gather(-1, ids[1:, None]).squeeze(-1)
    ref = _reference(model, seqs)
    assert (tok[LENS[0]:] - ref[LENS[0] + 1:]).abs().max() > 1e-3


def test_temperature_and_entropy():
    model = _model("llama")
    seqs, ids, pos, cu = _packed()
    with torch.no_grad():
        out = packed_logprobs(model, ids, pos, cu, temperature=0.7, with_entropy=True)
    torch.testing.assert_close(out.logp, _reference(model, seqs, 0.7), atol=1e-5, rtol=0)
    s = seqs[1]
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=s[None]).logits[0] / 0.7, -1)
    ent = -(lp.exp() * lp).sum(-1)
    a = LENS[0]
    torch.testing.assert_close(out.entropy[a + 1:a + LENS[1]], ent[:-1], atol=1e-5, rtol=0)
    assert out.entropy[a] == 0


def test_gradients_flow():
    model = _model("qwen2")
    _, ids, pos, cu = _packed()
    packed_logprobs(model, ids, pos, cu).logp.sum().backward()
    assert model.model.embed_tokens.weight.grad.abs().sum() > 0


def test_block_mask_shape():
    m = block_causal_mask(torch.tensor([0, 2, 3]))
    assert m[0, 0].int().tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("method", ["block_mask", "position_ids", "loop"])
def test_only_computes_the_selected_tokens_exactly(method):
    """`only` (the loss mask): same values at the selected tokens, 0 elsewhere and at sequence starts."""
    model = _model("qwen2")
    seqs, ids, pos, cu = _packed()
    only = torch.zeros_like(ids, dtype=torch.bool)
    only[[0, 2, 3, 5, 7, 13, 14, 16, 17]] = True  # 0 and 5 are sequence starts: they stay 0
    with torch.no_grad():
        full = packed_logprobs(model, ids, pos, cu, temperature=0.7, with_entropy=True, method=method)
        part = packed_logprobs(model, ids, pos, cu, temperature=0.7, with_entropy=True, method=method, only=only)
    kept = only.clone()
    kept[cu[:-1].long()] = False
    torch.testing.assert_close(part.logp[kept], full.logp[kept], atol=1e-5, rtol=0)
    torch.testing.assert_close(part.entropy[kept], full.entropy[kept], atol=1e-5, rtol=0)
    assert part.logp[~kept].abs().max() == 0 and part.entropy[~kept].abs().max() == 0
    assert full.logp[~kept].abs().max() > 0  # the zeros above are not a coincidence


def test_only_with_nothing_selected():
    model = _model("llama")
    _, ids, pos, cu = _packed()
    out = packed_logprobs(model, ids, pos, cu, only=torch.zeros_like(ids, dtype=torch.bool))
    assert out.logp.shape == ids.shape and out.logp.abs().max() == 0
