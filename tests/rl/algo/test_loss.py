"""Decoupled PPO loss against hand-computed values on a handful of tokens."""

from __future__ import annotations

import math

import pytest
import torch

from asearcher.rl.algo.loss import PPOLossConfig, aggregate, ppo_loss

T = torch.tensor


def _loss(logp, prox, behav, adv, mask, **kw):
    cfg_kw = {k: kw.pop(k) for k in list(kw) if k in PPOLossConfig.__dataclass_fields__}
    logp = T(logp, dtype=torch.float64, requires_grad=True)
    loss, stats = ppo_loss(logp, T(prox, dtype=torch.float64), T(behav, dtype=torch.float64),
                           T(adv, dtype=torch.float64), T(mask), PPOLossConfig(**cfg_kw), **kw)
    return logp, loss, stats


def test_clip_active_on_both_sides_and_mask_zero_excluded():
    # t0: r=e^.5=1.65, A=+1 -> clipped at 1.2 -> -1.2 ; t1: r=e^-.5=.61, A=-1 -> max(.61, .8) = .8 (clipped)
    # t2: r=1, A=2 -> -2 ; t3: masked out, absurd values must not matter
    logp, loss, stats = _loss([0.5, -0.5, 0.0, 50.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -99.0],
                              [1.0, -1.0, 2.0, 1e6], [1, 1, 1, 0], eps_clip=0.2)
    assert loss.item() == pytest.approx((-1.2 + 0.8 - 2.0) / 3)
    assert stats["clip_frac"] == pytest.approx(2 / 3)
    assert stats["n_tokens"] == 3
    loss.backward()
    # Clipped tokens get no gradient; t2: d/dlogp of -A r / 3 = -2/3; masked token: 0.
    assert logp.grad.tolist() == pytest.approx([0.0, 0.0, -2 / 3, 0.0])


def test_gradient_direction_raises_positive_lowers_negative():
    logp, loss, _ = _loss([-1.0, -1.0], [-1.0, -1.0], [-1.0, -1.0], [1.0, -1.0], [1, 1])
    loss.backward()
    assert logp.grad[0] < 0 < logp.grad[1]  # gradient descent raises logp of A>0, lowers A<0


def test_clip_higher():
    # r = 1.25, A = 1: symmetric 0.2 clips at 1.2, eps_high 0.28 does not clip
    lp = math.log(1.25)
    _, sym, _ = _loss([lp], [0.0], [0.0], [1.0], [1], eps_clip=0.2)
    _, hi, st = _loss([lp], [0.0], [0.0], [1.0], [1], eps_clip=0.2, eps_clip_high=0.28)
    assert sym.item() == pytest.approx(-1.2)
    assert hi.item() == pytest.approx(-1.25) and st["clip_frac"] == 0.0
    # the low side still uses eps_clip: r = .7, A = -1 -> max(.7, .8) = .8
    _, low, _ = _loss([math.log(0.7)], [0.0], [0.0], [-1.0], [1], eps_clip=0.2, eps_clip_high=0.28)
    assert low.item() == pytest.approx(0.8)


def test_behaviour_cap_truncate_vs_mask():
    # t0: w = 10 > cap 5; t1: w = 2. r = 1, A = 1 -> pg = -1 each, times w.
    args = ([0.0, 0.0], [0.0, 0.0], [-math.log(10), -math.log(2)], [1.0, 1.0], [1, 1])
    _, trunc, st_t = _loss(*args, behav_imp_weight_cap=5.0, behav_cap_mode="truncate")
    _, masked, st_m = _loss(*args, behav_imp_weight_cap=5.0, behav_cap_mode="mask")
    _, uncapped, _ = _loss(*args, behav_imp_weight_cap=None)
    assert trunc.item() == pytest.approx((-5 - 2) / 2)
    assert masked.item() == pytest.approx((0 - 2) / 2)  # masked token still counts in N
    assert uncapped.item() == pytest.approx((-10 - 2) / 2)
    assert st_t["capped_frac"] == st_m["capped_frac"] == 0.5
    assert st_t["imp_weight_mean"] == pytest.approx(3.5) and st_m["imp_weight_mean"] == pytest.approx(1.0)
    # KL(behav || prox) k1 estimate: mean(behav - prox) = -(ln10 + ln2)/2
    assert st_t["behav_kl"] == pytest.approx(-(math.log(10) + math.log(2)) / 2)


def test_on_policy_reduces_to_ppo_with_unit_weights():
    _, loss, st = _loss([-0.3, -2.0], [-0.3, -2.0], [-0.3, -2.0], [0.5, -1.5], [1, 1])
    assert loss.item() == pytest.approx((-0.5 + 1.5) / 2)
    assert st["imp_weight_mean"] == 1.0 and st["ratio_mean"] == 1.0 and st["policy_kl"] == 0.0


def test_aggregation_modes_2d():
    # per-token losses: seq0 [-1, -3], seq1 [-4, pad]
    tl = T([[-1.0, -3.0], [-4.0, 100.0]])
    mask = T([[1, 1], [1, 0]]).bool()
    assert aggregate(tl, mask, "token_mean").item() == pytest.approx(-8 / 3)
    assert aggregate(tl, mask, "seq_mean_token_mean").item() == pytest.approx((-2 - 4) / 2)


def test_aggregation_seq_mean_with_cu_seqlens_and_empty_sequence():
    tl = T([-1.0, -3.0, 7.0, -4.0])
    mask = T([1, 1, 0, 1]).bool()
    cu = T([0, 2, 3, 4])  # three sequences; the middle one has no loss-mask token and is not counted
    assert aggregate(tl, mask, "seq_mean_token_mean", cu_seqlens=cu).item() == pytest.approx(-3.0)


def test_micro_batches_with_global_normaliser_sum_to_full_batch():
    g = torch.Generator().manual_seed(0)
    n = 10
    logp, prox, behav, adv = (torch.randn(n, generator=g, dtype=torch.float64) * 0.3 for _ in range(4))
    mask = torch.rand(n, generator=g) > 0.3
    cfg = PPOLossConfig()
    full, _ = ppo_loss(logp, prox, behav, adv, mask, cfg)
    N = float(mask.sum())
    parts = [ppo_loss(logp[s], prox[s], behav[s], adv[s], mask[s], cfg, normaliser=N)[0] for s in (slice(0, 4), slice(4, n))]
    assert (parts[0] + parts[1]).item() == pytest.approx(full.item())


def test_kl_penalty_k3():
    # ref - logp = ln 2 -> k3 = 2 - ln2 - 1; pg = 0 (A = 0)
    _, loss, st = _loss([0.0], [0.0], [0.0], [0.0], [1], kl_coef=0.1, ref_logp=T([math.log(2)], dtype=torch.float64))
    assert loss.item() == pytest.approx(0.1 * (1 - math.log(2)))
    assert st["kl_ref"] == pytest.approx(1 - math.log(2))
    with pytest.raises(ValueError, match="ref_logp"):
        _loss([0.0], [0.0], [0.0], [0.0], [1], kl_coef=0.1)


def test_config_validation_names_field():
    from asearcher.config import load_config
    from asearcher.errors import UserError

    with pytest.raises(UserError, match="eps_clip"):
        load_config(PPOLossConfig, None, ["eps_clip=1.5"])
    with pytest.raises(UserError, match="behav_cap_mode"):
        load_config(PPOLossConfig, None, ["behav_cap_mode=clip"])
