"""Trainer.step on a tiny random model: positive advantages raise the logprob of the sampled tokens."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.rl.algo.advantages import TrainSample, broadcast
from asearcher.rl.algo.logprobs import packed_logprobs
from asearcher.rl.algo.loss import PPOLossConfig
from asearcher.rl.algo.packing import pack
from asearcher.rl.train.trainer import Trainer, TrainerConfig


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64))


def _samples(model, adv: float) -> list[TrainSample]:
    """Two multi-turn trajectories with on-policy behaviour logprobs (computed from the model itself)."""
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(2):
        seg = Segment()
        seg.append_context(torch.randint(0, 64, (4,), generator=g).tolist())
        seg.append_sampled(torch.randint(0, 64, (3,), generator=g).tolist(), [0.0] * 3, [0] * 3)
        seg.append_context([5, 6])
        seg.append_sampled(torch.randint(0, 64, (2,), generator=g).tolist(), [0.0] * 2, [0] * 2)
        ids = torch.tensor(seg.token_ids)
        with torch.no_grad():
            lp = packed_logprobs(model, ids, torch.arange(len(ids)), torch.tensor([0, len(ids)])).logp
        seg.logprobs = [float(x) if m else 0.0 for x, m in zip(lp, seg.loss_mask)]
        t = Trajectory(qid="q", question="", segments=[seg], reward=1.0)
        out.append(TrainSample(t, adv, broadcast(t, adv)))
    return out


def _sampled_logp(model, samples) -> float:
    (mb,) = pack(samples, 1024)
    with torch.no_grad():
        lp = packed_logprobs(model, mb.input_ids, mb.position_ids, mb.cu_seqlens).logp
    return float(lp[mb.loss_mask].sum())


@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_steps_move_logprob_in_the_advantage_direction(adv):
    model = _model()
    samples = _samples(model, adv)
    before = _sampled_logp(model, samples)
    # a budget of 12 tokens forces one sequence per micro-batch: gradient accumulation is exercised
    trainer = Trainer(model, TrainerConfig(lr=1e-2, max_tokens_per_mb=12, loss=PPOLossConfig(eps_clip=0.2)))
    stats = [trainer.step(samples) for _ in range(3)]
    after = _sampled_logp(model, samples)
    assert (after - before) * adv > 0.5
    assert trainer.version == 3
    s0 = stats[0]
    assert s0["n_micro_batches"] == 2
    assert s0["imp_weight_mean"] == pytest.approx(1.0, abs=1e-4)  # on-policy: prox == behav
    assert s0["clip_frac"] == 0.0 and s0["lag_max"] == 0
    assert stats[2]["lag_max"] == 2  # behaviour version 0, trainer at version 2


def test_micro_batching_does_not_change_the_gradient():
    grads = []
    for budget in (12, 1024):
        model = _model()
        samples = _samples(model, 1.0)
        trainer = Trainer(model, TrainerConfig(lr=1e-3, max_tokens_per_mb=budget, max_grad_norm=0.0))
        trainer.step(samples)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_trainer_satisfies_policy_trainer_protocol():
    from asearcher.rl.interfaces import PolicyTrainer

    assert isinstance(Trainer(_model(), TrainerConfig()), PolicyTrainer)


def test_prox_from_the_training_forward_equals_a_separate_pass():
    """One optimizer update per step: the prox logprobs taken from the training forward (what the trainer
    logs as logp_diff against behaviour) equal a separate no-grad pass with the pre-update weights."""
    model = _model()
    samples = _samples(model, 1.0)
    for s in samples:  # make the behaviour logprobs off-policy, so prox != behav
        for seg in s.trajectory.segments:
            seg.logprobs = [x - 0.3 if m else 0.0 for x, m in zip(seg.logprobs, seg.loss_mask)]
    (mb,) = pack(samples, 1024)
    with torch.no_grad():
        ref = packed_logprobs(model, mb.input_ids, mb.position_ids, mb.cu_seqlens).logp
    expected = float((ref - mb.behav_logp)[mb.loss_mask].abs().mean())
    stats = Trainer(model, TrainerConfig(lr=1e-3)).step(samples)
    assert stats["logp_diff/mean_abs"] == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.3, abs=1e-5)


def test_bfloat16_autocast_trains_fp32_weights():
    model = _model()
    samples = _samples(model, 1.0)
    before = _sampled_logp(model, samples)
    trainer = Trainer(model, TrainerConfig(lr=1e-2, autocast="bfloat16"))
    stats = [trainer.step(samples) for _ in range(3)]
    assert _sampled_logp(model, samples) - before > 0.5
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert 0 < stats[0]["logp_diff/mean_abs"] < 5e-2  # bf16 forward vs fp32 behaviour logprobs


def test_auto_autocast_follows_the_hardware(monkeypatch):
    """autocast "auto": bf16 where the CPU has it natively (faked flags: both kinds cannot be had here)."""
    from asearcher import hardware
    from asearcher.rl.train.trainer import autocast_context

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
    with autocast_context("auto", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    with autocast_context("auto", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_checkpoint_round_trip_through_the_trainer_restores_weights_optimizer_and_version(tmp_path):
    model = _model()
    samples = _samples(model, 1.0)
    trainer = Trainer(model, TrainerConfig(lr=1e-2))
    trainer.step(samples)
    path = trainer.save_checkpoint(tmp_path, 1, {"version": trainer.version, "note": "x"}, [], keep_last=1)
    trainer.step(samples)
    expected = {k: v.clone() for k, v in trainer.export_weights().items()}

    fresh = Trainer(_model(), TrainerConfig(lr=1e-2))
    ck = fresh.load_checkpoint(path)
    assert (fresh.version, ck.state["note"], ck.buffer) == (1, "x", [])
    fresh.step(samples)  # the same second step: AdamW's moments came back too
    for k, v in fresh.export_weights().items():
        torch.testing.assert_close(v, expected[k], msg=k)
