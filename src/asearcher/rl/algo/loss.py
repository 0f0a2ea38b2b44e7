"""Decoupled PPO loss (AReaL): the policy objective for off-policy (stale) rollouts.

Per loss-mask token t, with advantage A_t and three log-probabilities of the sampled token:
logp (current weights, with grad), prox_logp (the proximal policy: the same weights before this
update, recomputed without grad) and behav_logp (reported by the engine that sampled it):

    r_t   = exp(logp_t - prox_logp_t)                       trust-region ratio, against the proximal policy
    w_t   = exp(prox_logp_t - behav_logp_t)                 behaviour importance weight (no grad)
    w_t   = min(w_t, cap)           if cap_mode == "truncate"
    w_t   = w_t * [w_t <= cap]      if cap_mode == "mask"     (AReaL's default)
    pg_t  = -w_t * min(r_t A_t, clip(r_t, 1 - eps_low, 1 + eps_high) A_t)
    kl_t  = exp(ref_t - logp_t) - (ref_t - logp_t) - 1      (k3 estimator; only when kl_coef > 0)
    l_t   = pg_t + kl_coef * kl_t

Aggregation ("token_mean", default): sum of l_t over all loss-mask tokens of the global batch,
divided by the number N of loss-mask tokens of that batch. A trainer that splits the batch into
micro-batches passes `normaliser=N` to each call so the summed micro-batch losses equal the
full-batch loss. Tokens masked by the cap still count in N (the scale does not jump when some are
masked). "seq_mean_token_mean": average l_t within each sequence, then over the sequences that hold
at least one loss-mask token (normaliser = their number in the global batch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import torch

from asearcher.config import cfg
from asearcher.errors import UserError

logger = logging.getLogger(__name__)

Aggregation = Literal["token_mean", "seq_mean_token_mean"]


@dataclass
class PPOLossConfig:
    """Decoupled PPO objective."""

    eps_clip: float = cfg(0.2, "PPO clip range (low side, and high side unless eps_clip_high is set). ASearcher recipes use 0.4.")
    eps_clip_high: float | None = cfg(None, "Upper clip range for 'clip-higher' (DAPO); None means eps_clip.")
    behav_imp_weight_cap: float | None = cfg(5.0, "Cap on the behaviour importance weight exp(prox - behav); None: no cap.")
    behav_cap_mode: Literal["mask", "truncate"] = cfg("mask", "mask: drop tokens whose weight exceeds the cap (AReaL); truncate: min(w, cap).")
    kl_coef: float = cfg(0.0, "Coefficient of the k3 KL penalty against a reference policy; 0 disables it.")
    aggregation: Aggregation = cfg("token_mean", "token_mean (global token-level) or seq_mean_token_mean.")

    def validate(self) -> None:
        if not 0 < self.eps_clip < 1:
            raise UserError(f"loss.eps_clip must be in (0, 1), got {self.eps_clip}")
        if self.eps_clip_high is not None and self.eps_clip_high <= 0:
            raise UserError(f"loss.eps_clip_high must be > 0, got {self.eps_clip_high}")
        if self.behav_imp_weight_cap is not None and self.behav_imp_weight_cap <= 1:
            raise UserError(f"loss.behav_imp_weight_cap must be > 1, got {self.behav_imp_weight_cap}")
        if self.kl_coef < 0:
            raise UserError(f"loss.kl_coef must be >= 0, got {self.kl_coef}")


def _seq_index(shape: torch.Size, cu_seqlens: torch.Tensor | None, device: torch.device) -> tuple[torch.Tensor, int]:
    """Sequence id of every token, and the number of sequences (rows of a 2-D batch, or cu_seqlens)."""
    if cu_seqlens is not None:
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).to(device)
        ids = torch.repeat_interleave(torch.arange(len(lengths), device=device), lengths)
        if ids.numel() != shape.numel():
            raise ValueError(f"cu_seqlens covers {ids.numel()} tokens, tensors hold {shape.numel()}")
        return ids.reshape(shape), len(lengths)
    if len(shape) != 2:
        raise ValueError("seq_mean_token_mean needs 2-D [batch, tokens] tensors or cu_seqlens")
    return torch.arange(shape[0], device=device)[:, None].expand(shape), shape[0]


def aggregate(token_loss: torch.Tensor, mask: torch.Tensor, mode: Aggregation = "token_mean",
              cu_seqlens: torch.Tensor | None = None, normaliser: float | None = None) -> torch.Tensor:
    """Reduce per-token losses over loss-mask tokens (see the module docstring)."""
    masked = torch.where(mask, token_loss, torch.zeros_like(token_loss))
    if mode == "token_mean":
        denom = normaliser if normaliser is not None else max(int(mask.sum()), 1)
        return masked.sum() / denom
    if mode == "seq_mean_token_mean":
        ids, n = _seq_index(token_loss.shape, cu_seqlens, token_loss.device)
        sums = torch.zeros(n, dtype=token_loss.dtype, device=token_loss.device).index_add(0, ids.flatten(), masked.flatten())
        counts = torch.zeros(n, dtype=token_loss.dtype, device=token_loss.device).index_add(
            0, ids.flatten(), mask.flatten().to(token_loss.dtype))
        has = counts > 0
        denom = normaliser if normaliser is not None else max(int(has.sum()), 1)
        return (sums[has] / counts[has]).sum() / denom
    raise ValueError(f"unknown aggregation {mode!r}")


def ppo_loss(
    logp: torch.Tensor,
    prox_logp: torch.Tensor,
    behav_logp: torch.Tensor,
    advantages: torch.Tensor,
    loss_mask: torch.Tensor,
    config: PPOLossConfig,
    *,
    ref_logp: torch.Tensor | None = None,
    cu_seqlens: torch.Tensor | None = None,
    normaliser: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Decoupled PPO loss and statistics; all tensors are token-aligned, 1-D [T] or 2-D [B, T].

    Returns the scalar loss (differentiable w.r.t. `logp`) and a dict of floats computed over the
    loss-mask tokens: clip_frac, imp_weight_mean (after the cap), capped_frac, behav_kl (k1 estimate
    of KL(behav || prox)), behav_kl_k3, ratio_mean, policy_kl (k1 estimate of KL(prox || current)),
    pg_loss, kl_ref (when a reference is given), n_tokens.
    """
    mask = loss_mask.bool()
    prox_logp, behav_logp, advantages = prox_logp.detach(), behav_logp.detach(), advantages.detach()
    eps_low = config.eps_clip
    eps_high = config.eps_clip_high if config.eps_clip_high is not None else config.eps_clip

    ratio = torch.exp(logp - prox_logp)
    surr = ratio * advantages
    surr_clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * advantages
    pg = -torch.minimum(surr, surr_clipped)
    clipped = surr_clipped < surr  # the clipped branch is the one taken (its gradient is zero)

    log_w = prox_logp - behav_logp
    weight = torch.exp(log_w)
    cap = config.behav_imp_weight_cap
    capped = weight > cap if cap is not None else torch.zeros_like(mask)
    if cap is not None:
        if config.behav_cap_mode == "truncate":
            weight = torch.clamp(weight, max=cap)
        elif config.behav_cap_mode == "mask":
            weight = torch.where(capped, torch.zeros_like(weight), weight)
        else:
            raise ValueError(f"unknown behav_cap_mode {config.behav_cap_mode!r}")
    token_loss = pg * weight

    kl_ref = None
    if config.kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs ref_logp")
        d = ref_logp.detach() - logp
        kl_ref = torch.exp(d) - d - 1
        token_loss = token_loss + config.kl_coef * kl_ref

    loss = aggregate(token_loss, mask, config.aggregation, cu_seqlens, normaliser)
    stats = _stats(mask, clipped, weight, capped, log_w, ratio, logp, prox_logp, pg, kl_ref)
    return loss, stats


@torch.no_grad()
def _stats(mask, clipped, weight, capped, log_w, ratio, logp, prox_logp, pg, kl_ref) -> dict[str, float]:
    n = int(mask.sum())

    def mean(x: torch.Tensor) -> float:
        return float(x[mask].float().mean()) if n else 0.0

    stats = {
        "n_tokens": float(n),
        "clip_frac": mean(clipped),
        "imp_weight_mean": mean(weight),
        "capped_frac": mean(capped),
        "behav_kl": mean(-log_w),
        "behav_kl_k3": mean(torch.exp(log_w) - log_w - 1),
        "ratio_mean": mean(ratio),
        "policy_kl": mean(prox_logp - logp),
        "pg_loss": mean(pg * weight),
    }
    if kl_ref is not None:
        stats["kl_ref"] = mean(kl_ref)
    return stats
