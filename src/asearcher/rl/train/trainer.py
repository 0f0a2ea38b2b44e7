"""A minimal single-process PPO trainer step: pack, decoupled PPO with proximal logprobs, AdamW.

One `step(samples)` is one policy version: the whole batch makes one optimizer update (gradients
accumulated over token-budgeted micro-batches, with the loss normalised by the global batch's token
count). Because the weights do not change until that single update, the proximal policy's logprobs
("the current weights, before the update") are exactly the detached logprobs of the training
forward pass itself: no separate no-grad pass is needed (it would cost a third of the step and give
the same numbers). A trainer that made several optimizer updates per step (PPO mini-batches) would
need that pass again. Scale-out trainers (FSDP2, ...) implement the same `PolicyTrainer` protocol
(rl/interfaces.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from asearcher.config import cfg
from asearcher.errors import UserError
from asearcher.hardware import resolve_dtype
from asearcher.rl.algo.advantages import TrainSample
from asearcher.rl.algo.logprobs import Method, packed_logprobs
from asearcher.rl.algo.loss import PPOLossConfig, ppo_loss
from asearcher.rl.algo.packing import MicroBatch, pack
from asearcher.rl.algo.version_stats import version_lag_stats
from asearcher.rl.interfaces import Buffer, Checkpoint
from asearcher.rl.train.checkpoint import load_checkpoint, save_checkpoint
from asearcher.rl.train.model import export_model_weights

logger = logging.getLogger(__name__)


@dataclass
class TrainerConfig:
    """Optimisation settings of the PPO trainer."""

    lr: float = cfg(1e-6, "AdamW learning rate.")
    weight_decay: float = cfg(0.01, "AdamW weight decay.")
    adam_betas: list[float] = cfg([0.9, 0.999], "AdamW betas.")
    max_grad_norm: float = cfg(1.0, "Clip the global gradient norm to this; 0 disables clipping.")
    max_tokens_per_mb: int = cfg(8192, "Token budget of one micro-batch (packed sequences).")
    temperature: float = cfg(1.0, "Sampling temperature of the engine: logprobs use log_softmax(logits / T).")
    logprob_method: Method = cfg("auto", "How packed sequences are kept apart: auto, block_mask, position_ids, loop.")
    recompute_prox: bool = cfg(True, "Proximal logprobs = the current weights' logprobs before the update (decoupled PPO; "
                               "taken from the training forward); false uses the behaviour logprobs instead.")
    autocast: Literal["off", "bfloat16", "auto"] = cfg(
        "off", "Run forward passes under torch.autocast in this dtype with fp32 master weights and optimizer "
        "(CPUs with AVX512-BF16 and GPUs: ~1.8x faster forward, logprobs within ~1e-2 of fp32); auto = "
        "bfloat16 where the device computes it natively, else off.")
    loss: PPOLossConfig = cfg(PPOLossConfig(), "The PPO objective.")

    def validate(self) -> None:
        if self.lr <= 0:
            raise UserError(f"trainer.lr must be > 0, got {self.lr}")
        if self.max_tokens_per_mb < 2:
            raise UserError(f"trainer.max_tokens_per_mb must be >= 2, got {self.max_tokens_per_mb}")
        if len(self.adam_betas) != 2:
            raise UserError(f"trainer.adam_betas must hold two numbers, got {self.adam_betas}")


def behav_prox_agreement(mbs: Sequence[MicroBatch], prox: Sequence[torch.Tensor], version: int) -> dict[str, float]:
    """Engine vs trainer: mean |prox - behav| over loss-mask tokens the engine sampled with the trainer's
    current weights (version == `version`). On those tokens both are log_softmax(logits / T) of the same
    weights on the same ids, so the difference is numerics only (fp32 CPU: < 1e-4; bf16: ~1e-2)."""
    diffs = [(p - mb.behav_logp)[mb.loss_mask & (mb.versions == version)].abs() for mb, p in zip(mbs, prox, strict=True)]
    d = torch.cat(diffs) if diffs else torch.zeros(0)
    if d.numel() == 0:
        return {"logp_diff/n_tokens": 0.0}
    return {"logp_diff/mean_abs": float(d.mean()), "logp_diff/max_abs": float(d.max()),
            "logp_diff/n_tokens": float(d.numel())}


def count_normaliser(mbs: Sequence[MicroBatch], aggregation: str) -> int:
    """The loss normaliser of `mbs`: loss tokens (token_mean) or sequences holding at least one
    (seq_mean_token_mean). Data-parallel trainers sum it over ranks."""
    if aggregation == "token_mean":
        return sum(mb.n_loss_tokens for mb in mbs)
    n = 0
    for mb in mbs:
        ids = torch.repeat_interleave(torch.arange(mb.n_seqs), (mb.cu_seqlens[1:] - mb.cu_seqlens[:-1]).long())
        n += int(torch.unique(ids[mb.loss_mask]).numel())
    return n


def train_micro_batch(logp: torch.Tensor, mb: MicroBatch, config: TrainerConfig, normaliser: float,
                      totals: dict[str, float]) -> tuple[float, torch.Tensor]:
    """Decoupled-PPO loss of one micro-batch from its current logprobs, backward (gradients
    accumulate), token-weighted stats added into `totals` (with "n_tokens"); returns (loss, prox).

    The proximal policy is these weights before this step's single update (module docstring), i.e.
    `logp` detached; with `recompute_prox` off it is the behaviour policy."""
    prox = logp.detach() if config.recompute_prox else mb.behav_logp
    loss, st = ppo_loss(logp, prox, mb.behav_logp, mb.advantages, mb.loss_mask, config.loss,
                        cu_seqlens=mb.cu_seqlens, normaliser=normaliser)
    loss.backward()
    w = st.pop("n_tokens")
    totals["n_tokens"] = totals.get("n_tokens", 0.0) + w
    for k, v in st.items():  # token-weighted means over micro-batches
        totals[k] = totals.get(k, 0.0) + v * w
    return float(loss.detach()), prox


def clip_gradients(model: torch.nn.Module, max_grad_norm: float) -> float:
    """Clip the global gradient norm to `max_grad_norm` (0 = no clipping); returns the norm before.
    Works on sharded (DTensor) gradients too."""
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm if max_grad_norm > 0 else float("inf"))
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)


class Trainer:
    """The single-process `PolicyTrainer`: owns the model and optimizer; `version` counts the updates made
    (the policy version)."""

    def __init__(self, model: torch.nn.Module, config: TrainerConfig, version: int = 0) -> None:
        self.model = model
        self.config = config
        self.version = version
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                           betas=tuple(config.adam_betas))

    def _logp(self, mb: MicroBatch) -> torch.Tensor:
        c = self.config
        with autocast_context(c.autocast, mb.input_ids.device):
            return packed_logprobs(self.model, mb.input_ids, mb.position_ids, mb.cu_seqlens, c.temperature,
                                   c.logprob_method, only=mb.loss_mask).logp

    def step(self, samples: Sequence[TrainSample]) -> dict[str, float]:
        """One update on `samples`; returns averaged loss statistics, grad norm, lag metrics, timings."""
        t0 = time.perf_counter()
        mbs = pack(samples, self.config.max_tokens_per_mb)
        if not mbs:
            raise ValueError("empty batch: no sample has any token")
        self.model.train()
        norm = float(max(count_normaliser(mbs, self.config.loss.aggregation), 1))
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        loss_sum = 0.0
        prox: list[torch.Tensor] = []
        for mb in mbs:
            loss, p = train_micro_batch(self._logp(mb), mb, self.config, norm, totals)
            loss_sum += loss
            prox.append(p)
        n_tok = max(totals.pop("n_tokens"), 1.0)
        stats = {k: v / n_tok for k, v in totals.items()}
        stats["grad_norm"] = clip_gradients(self.model, self.config.max_grad_norm)
        self.optimizer.step()
        if self.config.recompute_prox:
            stats |= behav_prox_agreement(mbs, prox, self.version)
        stats |= version_lag_stats([mb.versions for mb in mbs], [mb.loss_mask for mb in mbs], self.version)
        stats |= {"loss": loss_sum, "n_micro_batches": float(len(mbs)), "version": float(self.version),
                  "time/step_s": time.perf_counter() - t0}
        self.version += 1
        logger.debug("step -> version %d: loss %.4f, %d micro-batches", self.version, loss_sum, len(mbs))
        return stats

    def export_weights(self) -> dict[str, torch.Tensor]:
        """The weights engines load: views of the parameters (LoRA: merged copies under the base names)."""
        return export_model_weights(self.model)

    def save_checkpoint(self, run_dir: Path, step: int, state: dict[str, Any], buffer: Buffer, keep_last: int) -> Path:
        """rl/train/checkpoint.py's layout: weights, AdamW state, RNG states, `state`, `buffer`."""
        return save_checkpoint(Path(run_dir), step, self.model, self.optimizer, state, buffer, keep_last)

    def load_checkpoint(self, path: Path) -> Checkpoint:
        """Weights and AdamW state in place, RNG states restored; `version` becomes the checkpoint's."""
        ck = load_checkpoint(Path(path), self.model, self.optimizer)
        self.version = int(ck.state["version"])
        return ck


def autocast_context(dtype: str, device: torch.device | str) -> Any:
    """torch.autocast in `dtype` ("bfloat16"; "auto": bf16 where native) on `device`'s type, or a
    no-op for "off" (and for "auto" without native bf16)."""
    kind = torch.device(device).type
    if dtype == "auto":
        dtype = "off" if resolve_dtype("auto", kind) == "float32" else "bfloat16"
    if dtype == "off":
        return nullcontext()
    return torch.autocast(kind, dtype=getattr(torch, dtype))
