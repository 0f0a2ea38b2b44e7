"""The orchestrator of fully asynchronous RL: wires executor, trainer, weight sync, checkpoints, metrics.

    executor (episodes, always running) --groups--> trainer.step (worker thread) --weights--> sync -> engine
                                                                    |
                                       metrics.jsonl, checkpoints, report <-+

The trainer step runs in a worker thread, so the event loop keeps driving episodes (and the engine
keeps generating) while gradients are computed; only the staleness bound stops new episodes. After
each step the new weights go to the engine through the WeightSync (in-flight generations resume
under them) and the executor learns the new version. Components never refer back to this module.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from asearcher.config import to_dict
from asearcher.rl.algo.advantages import compute_advantages
from asearcher.rl.config import TrainConfig
from asearcher.rl.interfaces import PolicyTrainer, WeightSync
from asearcher.rl.rollout.executor import RolloutExecutor
from asearcher.rl.rollout.staleness import StalenessController, check_staleness
from asearcher.rl.run.components import TrainComponents
from asearcher.rl.run.held_out import aevaluate, load_summary
from asearcher.rl.run.metrics import MetricsSink, batch_metrics, rename_trainer_stats
from asearcher.rl.run.report import write_report
from asearcher.rl.train.checkpoint import latest_checkpoint
from asearcher.rl.train.trainer import Trainer
from asearcher.rl.train.weight_sync import DiskWeightSync, InProcessWeightSync
from asearcher.tracking.trajectory_log import TrajectoryLog

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_weight_sync(config: TrainConfig, run_dir: Path) -> WeightSync:
    if config.weight_sync == "disk":
        # Absolute: a rollout server reads these paths from its own working directory.
        return DiskWeightSync((run_dir / "weights").absolute())
    return InProcessWeightSync()


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    version: int
    report: Path | None
    evals: dict[str, Any]


class TrainLoop:
    """One run: `await TrainLoop(config, parts, run_dir).arun(resume=...)`."""

    def __init__(self, config: TrainConfig, parts: TrainComponents, run_dir: Path, progress: bool = True,
                 trainer: PolicyTrainer | None = None, sync: WeightSync | None = None) -> None:
        """`trainer` / `sync` replace the in-process Trainer on `parts.trainer_model` and the configured
        WeightSync: the FSDP2 trainer under torchrun, a trainer in Ray actors (rl/distributed/)."""
        self.config = config
        self.parts = parts
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.step = 0
        self.traj_log: TrajectoryLog | None = None  # <run>/trajectories.jsonl while RL runs (asearcher ui)
        self.trainer = trainer if trainer is not None else Trainer(parts.trainer_model, config.trainer)
        r = config.rollout
        self.controller = StalenessController(r.batch_size, r.max_staleness, r.max_concurrent)
        self.executor = RolloutExecutor(parts.agent_factory, parts.data, parts.reward_fn, self.controller, r,
                                        config.filter)
        self.sync = sync if sync is not None else make_weight_sync(config, self.run_dir)

    # ---- pieces ---------------------------------------------------------------------------

    async def _sync(self) -> float:
        start = time.perf_counter()
        await self.sync.apublish(self.trainer, self.trainer.version)
        await self.sync.aupdate(self.parts.engine)
        self.executor.on_version(self.trainer.version)
        return time.perf_counter() - start

    def _checkpoint(self) -> None:
        state = {"version": self.trainer.version, "data": self.parts.data.state_dict(),
                 "executor": self.executor.state_dict()}
        self.trainer.save_checkpoint(self.run_dir, self.step, state, self.executor.buffer,
                                     self.config.checkpoint.keep_last)

    def _restore(self) -> bool:
        ckpt_dir = latest_checkpoint(self.run_dir)
        if ckpt_dir is None:
            return False
        ck = self.trainer.load_checkpoint(ckpt_dir)  # sets trainer.version
        self.step = int(ck.state["step"])
        self.parts.data.load_state_dict(ck.state["data"])
        self.executor.load_state_dict(ck.state["executor"], ck.buffer)
        return True

    async def _train_step(self, samples: list) -> dict[str, float]:
        """Trainer.step in a worker thread; on cancellation the update is finished first (whole steps only)."""
        fut = asyncio.ensure_future(asyncio.to_thread(self.trainer.step, samples))
        try:
            stats = await asyncio.shield(fut)
        except asyncio.CancelledError:
            await asyncio.wait([fut])
            self.step += 1
            raise
        self.step += 1
        return stats

    async def _one_step(self) -> dict[str, Any] | None:
        """Wait for a batch, train, sync; the step's metrics row (None when the data ran out)."""
        c, t0 = self.config, time.perf_counter()
        groups = await self.executor.aget_batch(c.rollout.batch_questions)
        t_wait = time.perf_counter() - t0
        if not groups:
            return None
        check_staleness([t for g in groups for t in g], self.trainer.version, c.rollout.max_staleness)
        if self.traj_log is not None:  # the step number its metrics row gets (one more than now)
            self.traj_log.write(self.step + 1, self.trainer.version, groups)
        samples = compute_advantages(groups, c.advantage)
        stats = await self._train_step(samples)
        t_train = time.perf_counter() - t0 - t_wait
        t_sync = await self._sync()
        interval = time.perf_counter() - t0
        ex = self.executor.pop_stats()
        row = batch_metrics(groups) | rename_trainer_stats(stats) | {
            "version": self.trainer.version,
            "time/wait_s": t_wait, "time/train_s": t_train, "time/sync_s": t_sync, "time/interval_s": interval,
            "time/generating_s": ex.generating_s, "time/trainer_wait_frac": t_wait / interval if interval else 0.0,
            "time/overtaken_wait_s": ex.overtaken_wait_s,
            "gen/tokens": ex.gen_tokens, "gen/episodes": ex.episodes,
            "throughput/tokens_per_s": ex.gen_tokens / interval if interval else 0.0,
            "rollout/in_flight": self.executor.in_flight, "rollout/buffered_groups": len(self.executor.buffer),
            "data/epoch": self.parts.data.epoch, "data/skipped": self.parts.data.skipped,
        }
        row |= {f"drops/{k}": float(v) for k, v in ex.drops.items()}
        return row

    async def _evaluate(self, name: str) -> dict[str, Any]:
        """Held-out evaluation with the `asearcher eval` runner and graders; summary saved under eval_<name>/."""
        assert self.parts.eval_items is not None and self.parts.eval_agent_factory is not None
        return await aevaluate(self.parts.eval_items, self.parts.eval_agent_factory, self.run_dir / f"eval_{name}",
                               self.config, f"policy version {self.trainer.version}", self.progress)

    def _load_evals(self) -> dict[str, Any]:
        """Finished evaluations of this run folder ("shipped" is written by the SFT stage, rl/run/sft_stage.py)."""
        evals = {}
        for name in ("shipped", "before", "after"):
            summary = load_summary(self.run_dir / f"eval_{name}")
            if summary is not None:
                evals[name] = summary
        return evals

    def _extra_sinks(self) -> list[Any]:
        """Metrics sinks beside metrics.jsonl: Weights & Biases when `wandb=true`."""
        if not self.config.wandb:
            return []
        from asearcher.tracking.wandb_sink import WandbSink  # wandb is an optional extra

        return [WandbSink(self.run_dir, self.config.wandb_config, to_dict(self.config))]

    # ---- the run ----------------------------------------------------------------------------

    async def arun(self, resume: bool = False) -> TrainResult:
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = resume and self._restore()
        if not resumed:
            seed_everything(c.seed)
        await self._sync()  # the engine serves the trainer's weights at the trainer's version
        for prepare in self.parts.prepare:  # e.g. the agent's budget clipped to the engine's context window
            await prepare()
        evals = self._load_evals()
        do_eval = c.eval.enabled and self.parts.eval_items is not None
        if do_eval and "before" not in evals and not resumed:
            logger.info("phase: %s", "eval after SFT" if c.sft.enabled else "eval before RL")
            evals["before"] = await self._evaluate("before")
        logger.info("phase: RL (steps %d -> %d)", self.step, c.total_steps)
        sink = MetricsSink(self.run_dir / "metrics.jsonl", c.tensorboard, self._extra_sinks())
        if c.log_trajectories:
            self.traj_log = TrajectoryLog(self.run_dir / "trajectories.jsonl")
        bar = tqdm(total=c.total_steps, initial=self.step, desc="train", unit="step", disable=not self.progress)
        self.executor.start()
        try:
            while self.step < c.total_steps:
                row = await self._one_step()
                if row is None:
                    logger.info("training data exhausted after %d steps", self.step)
                    break
                sink.write(self.step, row)
                bar.set_postfix({"reward": f"{row['reward/mean']:.3f}", "lag": f"{row.get('lag/max', 0):.0f}",
                                 "wait": f"{row['time/trainer_wait_frac']:.2f}",
                                 "tok/s": f"{row['throughput/tokens_per_s']:.0f}"}, refresh=False)
                bar.update(1)
                every = c.checkpoint.every_steps
                if every and self.step % every == 0 and self.step < c.total_steps:
                    self._checkpoint()
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._checkpoint()
            logger.warning("interrupted at step %d: checkpoint saved; continue with --resume %s", self.step, self.run_dir)
            raise
        finally:
            await self.executor.aclose()
            sink.close()
            if self.traj_log is not None:
                self.traj_log.close()
                self.traj_log = None
            bar.close()
        self._checkpoint()
        if do_eval:
            logger.info("phase: eval after RL")
            evals["after"] = await self._evaluate("after")
        logger.info("phase: report")
        report = write_report(self.run_dir, evals, {"run": self.run_dir.name, "steps": self.step,
                                                    "policy version": self.trainer.version})
        return TrainResult(self.run_dir, self.step, self.trainer.version, report, evals)
