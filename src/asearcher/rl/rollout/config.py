"""`RolloutConfig`: the rollout executor's keys (`rollout.*`): groups, batch, staleness, concurrency, reward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asearcher.config import cfg
from asearcher.errors import UserError

RewardKind = Literal["f1_format", "em", "judge"]
OvertakenPolicy = Literal["wait", "drop"]


@dataclass
class RolloutConfig:
    """The rollout executor: groups, batch size, staleness (AReaL's eta) and concurrency."""

    group_size: int = cfg(4, "Trajectories per question (a GRPO group).")
    batch_questions: int = cfg(4, "Questions (groups) per training step; batch = batch_questions * group_size.")
    max_staleness: int = cfg(1, "eta: most policy versions a trained token may lag; 0 = synchronous RL.")
    max_concurrent: int = cfg(16, "Most episodes in flight at once (also bounded by the staleness rule).")
    overtaken: OvertakenPolicy = cfg(
        "wait", "A group started eta versions ago and still running (overtaken by shorter, later groups): wait = "
        "the trainer waits for it and trains it in this batch, so long episodes are never lost to staleness; "
        "drop = train what has finished and drop it later as too_stale (the long tail is lost).")
    episode_timeout_s: float = cfg(
        0.0, "Wall-clock cap of one training episode in seconds (0: none). An episode past it (a hung engine or "
        "tool) is cancelled and dropped as 'timeout', like an episode whose engine failed: never trained, its "
        "slot freed, its group finishing with the episodes that did end; counted in metrics as drops/timeout.")
    reward: RewardKind = cfg("f1_format", "Reward: f1_format (answer F1 x format), em (exact match x format), judge.")
    metrics: Literal["asearcher", "squad"] = cfg(
        "asearcher", "Answer F1/EM definitions of the f1_format / em rewards: asearcher (ASearcher's training "
        "reward: token sets, True/False -> yes/no, Chinese characters split) or squad (docs/metrics.md).")
    judge_url: str = cfg("", "reward=judge: OpenAI-compatible URL (or local model path) of the judge model.")
    judge_model: str = cfg("", "reward=judge: model name sent to the judge server (and its cache key).")
    seed: int = cfg(0, "Seed of the per-episode sampling seeds (derived from epoch, question and sample).")

    def validate(self) -> None:
        for name in ("group_size", "batch_questions", "max_concurrent"):
            if getattr(self, name) < 1:
                raise UserError(f"rollout.{name} must be >= 1, got {getattr(self, name)}")
        if self.episode_timeout_s < 0:
            raise UserError(f"rollout.episode_timeout_s must be >= 0 (0: no cap), got {self.episode_timeout_s}")
        if self.max_staleness < 0:
            raise UserError(f"rollout.max_staleness must be >= 0, got {self.max_staleness}")
        if self.max_concurrent < self.group_size:
            # Groups start whole; fewer slots than one group would never start anything.
            raise UserError(f"rollout.max_concurrent ({self.max_concurrent}) must be >= rollout.group_size "
                            f"({self.group_size})")
        if self.reward == "judge" and not self.judge_url:
            raise UserError("rollout.reward=judge needs rollout.judge_url")

    @property
    def batch_size(self) -> int:
        """Trajectories per step (the StalenessController's batch size)."""
        return self.batch_questions * self.group_size
