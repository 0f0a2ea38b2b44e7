"""SFT warm start: optimizer steps lower the NLL of exactly the loss-mask tokens."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.rl.train.sft import SFTConfig, run_sft, save_model, sft_loss


def tiny_llama() -> LlamaForCausalLM:
    """~0.1M-parameter random Llama over the ByteTokenizer vocabulary."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=ByteTokenizer().vocab_size, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=False)
    return LlamaForCausalLM(config).eval()


def _short_trajs() -> list[Trajectory]:
    """Four short trajectories (context, sampled reply, observation, sampled reply)."""
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(4):
        seg = Segment()
        seg.append_context(torch.randint(0, 200, (12,), generator=g).tolist())
        seg.append_sampled(torch.randint(0, 200, (6,), generator=g).tolist(), [0.0] * 6, [0] * 6)
        seg.append_context(torch.randint(0, 200, (5,), generator=g).tolist())
        seg.append_sampled(torch.randint(0, 200, (4,), generator=g).tolist(), [0.0] * 4, [0] * 4)
        out.append(Trajectory(f"q{i}", "", segments=[seg]))
    return out


def test_sft_steps_lower_the_loss_of_the_sampled_tokens():
    trajs = _short_trajs()
    model = tiny_llama()
    before = sft_loss(model, trajs, 4096, backward=False)
    losses = run_sft(model, trajs, SFTConfig(epochs=15, batch_size=4, lr=3e-3, warmup_steps=1))
    after = sft_loss(model, trajs, 4096, backward=False)
    assert len(losses) == 15
    assert after < 0.7 * before, (before, after)
    assert not model.training  # left in eval mode for the engine


def test_sft_loss_ignores_context_tokens():
    """Changing only mask-0 tokens after the last sampled token cannot change the loss."""
    model = tiny_llama()
    seg = Segment()
    seg.append_context([10, 11, 12])
    seg.append_sampled([20, 21], [0.0, 0.0], [0, 0])
    a = Trajectory("a", "", segments=[seg])
    seg2 = Segment(list(seg.token_ids), list(seg.loss_mask), list(seg.logprobs), list(seg.versions))
    seg2.append_context([30, 31, 32])
    b = Trajectory("b", "", segments=[seg2])
    la, lb = sft_loss(model, [a], 4096, backward=False), sft_loss(model, [b], 4096, backward=False)
    assert abs(la - lb) < 1e-5
    # And it is the mean NLL of the two sampled tokens.
    with torch.no_grad():
        logits = model(torch.tensor([seg.token_ids])).logits[0]
    lp = torch.log_softmax(logits, -1)
    expected = -(lp[2, 20] + lp[3, 21]) / 2
    assert abs(la - float(expected)) < 1e-4


def test_save_model_writes_a_loadable_folder(tmp_path):
    model = tiny_llama()

    class _Tok:  # save_model saves the HF tokenizer behind an HFTokenizer; a stub records the call
        saved = None

        def save_pretrained(self, path):
            _Tok.saved = path

    out = save_model(model, _Tok(), tmp_path / "sft")
    assert (out / "config.json").is_file() and not (tmp_path / "sft.tmp").exists()
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(out))
    assert torch.equal(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight)


def test_sft_items_default_to_the_training_split_never_the_held_out_one(wiki_corpus_dir):
    from asearcher.rl.train.sft import sft_items

    items = sft_items(None, 20)
    assert len(items) == 20 and all(it.id.startswith("wiki-lead-train-") for it in items)
    assert [it.id for it in sft_items("default", 20)] == [it.id for it in items]


def test_save_model_drops_a_gguf_quantization_config(tmp_path):
    """Checkpoints converted from GGUF carry quantization_config; transformers refuses to save those."""
    model = tiny_llama()
    model.config.quantization_config = {"quant_method": "gguf", "gguf_file": "x.gguf", "dequantize": False}

    class _Tok:
        def save_pretrained(self, path):
            pass

    out = save_model(model, _Tok(), tmp_path / "sft")
    import json

    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(out))
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)


def test_sft_killed_mid_run_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch):
    """A step that dies half-way (as under SIGKILL) leaves the last checkpoint; a rerun on the freshly
    loaded starting model continues from it and ends exactly where one uninterrupted SFT ends (fp32 on
    CPU, same batches replayed from the seed: only summation order could differ, hence 1e-6)."""
    from asearcher.rl.train import sft as sft_mod
    from asearcher.rl.train.checkpoint import checkpoint_dirs

    trajs = _short_trajs()
    config = SFTConfig(epochs=4, batch_size=3, lr=3e-3, warmup_steps=3, checkpoint_every=3)  # 8 steps, 2 per epoch
    whole = tiny_llama()
    whole_losses = run_sft(whole, trajs, config)

    real_loss, calls = sft_mod.sft_loss, []

    def dies_in_step_6(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("killed")
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(sft_mod, "sft_loss", dies_in_step_6)
    with pytest.raises(RuntimeError, match="killed"):
        run_sft(tiny_llama(), trajs, config, ckpt_dir=tmp_path)
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step-000003"]  # resume starts mid-epoch (epoch 1, batch 2)
    monkeypatch.setattr(sft_mod, "sft_loss", real_loss)
    resumed = tiny_llama()  # the starting weights again, as a restarted process loads them
    torch.manual_seed(123)  # a restarted process's RNG: the checkpoint restores it
    resumed_losses = run_sft(resumed, trajs, config, ckpt_dir=tmp_path)
    assert resumed_losses == pytest.approx(whole_losses, abs=1e-6)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)
    assert not torch.equal(tiny_llama().lm_head.weight, resumed.lm_head.weight)  # it did train
    # the last step saves no checkpoint (the finished model is saved by the caller)
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step-000003", "step-000006"]


def test_sft_checkpoint_every_zero_writes_no_checkpoint(tmp_path):
    run_sft(tiny_llama(), _short_trajs(), SFTConfig(epochs=2, batch_size=2, checkpoint_every=0), ckpt_dir=tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_sft_checkpoint_under_other_settings_is_refused(tmp_path):
    """Continuing a checkpoint with another batch size or lr would silently train a different schedule."""
    from asearcher.errors import UserError

    trajs = _short_trajs()
    run_sft(tiny_llama(), trajs, SFTConfig(epochs=2, batch_size=2, checkpoint_every=1), ckpt_dir=tmp_path)
    with pytest.raises(UserError, match=r"sft.batch_size: 2 there, 1 now"):
        run_sft(tiny_llama(), trajs, SFTConfig(epochs=2, batch_size=1, checkpoint_every=1), ckpt_dir=tmp_path)
