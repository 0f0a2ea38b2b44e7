"""Advantages: scalar episode rewards -> per-token advantages on the tokens the policy sampled.

Three stages (`AdvantageConfig`), in the order ASearcher's training runs them: its workflows subtract
the group baseline and hand the result to AReaL's PPO actor as the "reward", which scales, shifts and
clips it, then whitens the per-token advantages over the batch. For a group G of trajectories
answering the same question with rewards r_i:

  1. group baseline
        baseline="group_mean":  b_i = r_i - mean_G(r)                      (ASearcher's base agent)
        baseline="grpo":        b_i = (r_i - mean_G(r)) / (std_G(r) + eps)  (its reasoning agent;
                                                                    population std unless std_unbiased)
        baseline="none":        b_i = r_i
  2. AReaL's reward scaling, bias and clipping:
        A_i = clip((b_i + reward_bias) * reward_scaling, -reward_clip, +reward_clip)
  3. A_i is broadcast to every loss-mask token of every one of its segments (0.0 on prompt /
     tool-output tokens); with `token_norm=True` (AReaL's adv_norm at batch level) the per-token
     advantages are whitened over all loss-mask tokens of the whole batch (N tokens in all):
        a_t <- (a_t - mean_N(a)) / (std_N(a) + eps)                         (population std)
     so that long trajectories weigh by their token count.

The defaults (scaling 1, bias 0, clip 20) leave b_i unchanged for rewards in [0, 1] and groups of
fewer than 400. With whitening on, scaling and bias cancel; only the clip can still bind (e.g. grpo
with 16 samples: one success gives b = sqrt(15) = 3.87, and (3.87 - 0.5) * 10 is clipped to 20).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from asearcher.api.trajectory import Trajectory
from asearcher.config import cfg
from asearcher.errors import UserError

logger = logging.getLogger(__name__)

Baseline = Literal["grpo", "group_mean", "none"]


@dataclass
class AdvantageConfig:
    """How rewards become advantages."""

    baseline: Baseline = cfg("grpo", "Per-group baseline: grpo ((r-mean)/(std+eps)), group_mean (r-mean), none (r).")
    token_norm: bool = cfg(False, "Whiten per-token advantages over all loss-mask tokens of the batch.")
    eps: float = cfg(1e-6, "Added to standard deviations before dividing.")
    std_unbiased: bool = cfg(False, "Use the unbiased (n-1) group std for grpo instead of the population std.")
    reward_scaling: float = cfg(1.0, "AReaL's reward_scaling: the baselined reward is multiplied by this (after the "
                                "bias, before the clip).")
    reward_bias: float = cfg(0.0, "AReaL's reward_bias: added to the baselined reward before scaling (the paper's "
                             "recipes: -0.5 with scaling 10, i.e. (b - 0.5) x 10).")
    reward_clip: float = cfg(20.0, "AReaL's reward_clip: the scaled reward is clipped to [-reward_clip, reward_clip].")

    def validate(self) -> None:
        if self.eps < 0:
            raise UserError(f"advantage.eps must be >= 0, got {self.eps}")
        if self.reward_scaling <= 0:
            raise UserError(f"advantage.reward_scaling must be > 0 (a negative one rewards failure), got "
                            f"{self.reward_scaling}")
        if self.reward_clip <= 0:
            raise UserError(f"advantage.reward_clip must be > 0, got {self.reward_clip}")


@dataclass(slots=True)
class TrainSample:
    """A scored trajectory with the advantage of every token, ready for packing.

    Attributes:
        trajectory: the episode (its segments carry token ids, loss mask, logprobs, versions).
        advantage: the trajectory's scalar advantage after the group baseline, scaling, bias and clip
            (before token whitening).
        token_advantages: one list per segment, one value per token; 0.0 where loss_mask is 0.
        group: index of the trajectory's group in the batch.
    """

    trajectory: Trajectory
    advantage: float
    token_advantages: list[list[float]]
    group: int = 0


def _std(xs: Sequence[float], unbiased: bool) -> float:
    n = len(xs)
    if n - int(unbiased) <= 0:
        return 0.0  # one sample: no spread, and the centred advantage is 0 anyway
    m = sum(xs) / n
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (n - int(unbiased)))


def group_advantages(rewards: Sequence[float], baseline: Baseline = "grpo", eps: float = 1e-6,
                     std_unbiased: bool = False) -> list[float]:
    """Scalar advantages of one group. `group_advantages([1, 0, 0, 1], "group_mean") == [.5, -.5, -.5, .5]`."""
    if not rewards:
        return []
    if baseline == "none":
        return [float(r) for r in rewards]
    mean = sum(rewards) / len(rewards)
    centred = [float(r) - mean for r in rewards]
    if baseline == "group_mean":
        return centred
    if baseline == "grpo":
        std = _std(rewards, std_unbiased)
        return [c / (std + eps) for c in centred]
    raise ValueError(f"unknown advantage baseline {baseline!r}")


def scale_and_clip(values: Sequence[float], scaling: float = 1.0, bias: float = 0.0,
                   clip: float = 20.0) -> list[float]:
    """AReaL's reward transform: `clip((v + bias) * scaling, -clip, clip)`.
    `scale_and_clip([0.5, -0.5], 10.0, -0.5) == [0.0, -10.0]`."""
    return [min(max((float(v) + bias) * scaling, -clip), clip) for v in values]


def broadcast(traj: Trajectory, advantage: float) -> list[list[float]]:
    """Per-segment, per-token advantages: `advantage` on loss-mask tokens, 0.0 elsewhere."""
    return [[advantage if m else 0.0 for m in seg.loss_mask] for seg in traj.segments]


def whiten_tokens(samples: list[TrainSample], eps: float = 1e-6) -> None:
    """Whiten `token_advantages` in place over all loss-mask tokens of `samples` (population std)."""
    vals = [a for s in samples for seg, advs in zip(s.trajectory.segments, s.token_advantages, strict=True)
            for m, a in zip(seg.loss_mask, advs, strict=True) if m]
    if not vals:
        return
    mean = sum(vals) / len(vals)
    std = _std(vals, unbiased=False)
    for s in samples:
        s.token_advantages = [[(a - mean) / (std + eps) if m else 0.0 for m, a in zip(seg.loss_mask, advs, strict=True)]
                              for seg, advs in zip(s.trajectory.segments, s.token_advantages, strict=True)]


def compute_advantages(groups: Sequence[Sequence[Trajectory]], config: AdvantageConfig) -> list[TrainSample]:
    """Turn groups of scored trajectories into `TrainSample`s (flattened in group order).

    Every trajectory must have a reward: a rollout whose reward is None is dropped before this.
    """
    samples: list[TrainSample] = []
    for gi, group in enumerate(groups):
        rewards = []
        for t in group:
            if t.reward is None:
                raise ValueError(f"trajectory {t.qid!r} has no reward: drop it (DropReason.NO_REWARD) first")
            rewards.append(float(t.reward))
        advs = group_advantages(rewards, config.baseline, config.eps, config.std_unbiased)
        advs = scale_and_clip(advs, config.reward_scaling, config.reward_bias, config.reward_clip)
        samples.extend(TrainSample(t, a, broadcast(t, a), gi) for t, a in zip(group, advs, strict=True))
    if config.token_norm:
        whiten_tokens(samples, config.eps)
    return samples
