"""SFT warm start: cross-entropy on the sampled (loss_mask = 1) tokens of expert trajectories.

It reuses the RL data path: trajectories -> `TrainSample` -> `rl.packing.pack` (prefix merging,
token-budgeted micro-batches) -> `rl.logprobs.packed_logprobs`, so SFT sees exactly the sequences
and masks the PPO trainer sees. The loss is the token mean of -log p over the loss-mask tokens of
each optimizer batch. `warm_start` runs the whole recipe (expert episodes through the real agent
and tools, SFT, save) and returns an HF model folder that the RL run loads as its `model`.

A killed warm start resumes: the expert trajectories are saved once to `<out>-work/expert.jsonl`,
SFT checkpoints (weights, AdamW, scheduler, RNG, losses; written atomically by rl/train/checkpoint.py)
go to `<out>-work/checkpoints/` every `sft.checkpoint_every` steps, and a rerun continues from the
newest one with the same batches, so it ends with the weights an uninterrupted run would have.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm import tqdm

from asearcher.api.trajectory import Trajectory
from asearcher.config import cfg
from asearcher.errors import UserError
from asearcher.rl.algo.advantages import TrainSample, broadcast
from asearcher.rl.algo.logprobs import packed_logprobs
from asearcher.rl.algo.packing import pack
from asearcher.rl.train.trainer import autocast_context

logger = logging.getLogger(__name__)


@dataclass
class SFTConfig:
    """The SFT warm start on scripted expert trajectories (rl/train/expert.py)."""

    enabled: bool = cfg(False, "Run the SFT warm start before RL (the RL run then loads its weights).")
    questions: int = cfg(256, "Training questions the expert answers (from the training data, in file order).")
    oracle: bool = cfg(True, "Title questions: the expert picks the gold title when it is among the shown hits (else "
                             "the first hit). Fact questions: the strong strategy instead of the weak one (rl/train/fact_expert.py).")
    read_prob: float = cfg(0.0, "Fact questions, weak expert: share of questions on which it reads hit 1's page "
                                "(chosen blindly per question, so the warm start shows the <access> format).")
    epochs: int = cfg(1, "Passes over the kept expert trajectories.")
    batch_size: int = cfg(8, "Trajectories per optimizer step.")
    lr: float = cfg(5e-5, "AdamW learning rate (constant after a short linear warm-up).")
    warmup_steps: int = cfg(4, "Linear warm-up steps.")
    max_tokens_per_mb: int = cfg(1024, "Token budget of one micro-batch (CPU attention memory grows with its square).")
    max_grad_norm: float = cfg(1.0, "Clip the global gradient norm; 0 disables.")
    seed: int = cfg(0, "Shuffle seed.")
    checkpoint_every: int = cfg(10, "Save an SFT checkpoint every this many optimizer steps, so a killed warm start "
                                    "resumes (`asearcher train --resume RUN`) instead of starting over; 0 = never.")
    autocast: Literal["off", "bfloat16", "auto"] = cfg("off", "Forward passes under torch.autocast in this dtype (fp32 weights), "
                                               "as trainer.autocast.")

    def validate(self) -> None:
        for name in ("questions", "epochs", "batch_size", "max_tokens_per_mb"):
            if getattr(self, name) < 1:
                raise UserError(f"sft.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.read_prob <= 1.0:
            raise UserError(f"sft.read_prob must be in [0, 1], got {self.read_prob}")
        if self.checkpoint_every < 0:
            raise UserError(f"sft.checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.lr <= 0:
            raise UserError(f"sft.lr must be > 0, got {self.lr}")


def _samples(trajs: Sequence[Trajectory]) -> list[TrainSample]:
    # Advantage 1 on every sampled token: `pack` carries it as the per-token weight (unused here).
    return [TrainSample(t, 1.0, broadcast(t, 1.0)) for t in trajs]


def sft_loss(model: Any, trajs: Sequence[Trajectory], max_tokens_per_mb: int, backward: bool = True,
             autocast: str = "off") -> float:
    """Token-mean NLL of the loss-mask tokens of `trajs` (gradients accumulated when `backward`)."""
    mbs = pack(_samples(trajs), max_tokens_per_mb)
    n = max(sum(mb.n_loss_tokens for mb in mbs), 1)
    total = 0.0
    for mb in mbs:
        with torch.set_grad_enabled(backward), autocast_context(autocast, mb.input_ids.device):
            logp = packed_logprobs(model, mb.input_ids, mb.position_ids, mb.cu_seqlens, 1.0, only=mb.loss_mask).logp
            loss = -(logp * mb.loss_mask).sum() / n
        if backward:
            loss.backward()
        total += float(loss.detach())
    return total


def run_sft(model: Any, trajs: Sequence[Trajectory], config: SFTConfig, progress: bool = False,
            ckpt_dir: Path | None = None) -> list[float]:
    """Train `model` in place on `trajs`; returns the loss of every optimizer step.

    With `ckpt_dir`, a checkpoint goes to `ckpt_dir`/checkpoints/ every `config.checkpoint_every` steps
    and training starts from the newest one found there (same `trajs` and config required: the batch
    order is replayed from `config.seed`, so the resumed steps see the batches they would have seen).
    """
    from asearcher.rl.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

    config.validate()
    if not trajs:
        raise UserError("SFT warm start: no expert trajectories to train on (the expert solved no question)")
    rng = random.Random(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(config.warmup_steps, 1)))
    losses: list[float] = []
    # what decides the batches and updates: a checkpoint is only continued under the same
    settings = {k: getattr(config, k) for k in ("seed", "batch_size", "lr", "warmup_steps", "max_grad_norm",
                                                "max_tokens_per_mb", "autocast")} | {"trajectories": len(trajs)}
    latest = latest_checkpoint(ckpt_dir) if ckpt_dir is not None else None
    if latest is not None:
        state = load_checkpoint(latest, model, opt).state
        differ = {k: (v, settings.get(k)) for k, v in state["settings"].items() if settings.get(k) != v}
        if differ:
            raise UserError(f"{latest}: the SFT checkpoint was trained with other settings "
                            f"({', '.join(f'sft.{k}: {a} there, {b} now' for k, (a, b) in differ.items())}); "
                            "resume with the same sft settings or start a new run")
        sched.load_state_dict(state["scheduler"])
        losses = [float(x) for x in state["losses"]]
        logger.info("SFT resumes after step %d (%s)", len(losses), latest)
    model.train()
    start = time.perf_counter()
    per_epoch = -(-len(trajs) // config.batch_size)
    steps = config.epochs * per_epoch
    bar = tqdm(total=steps, initial=len(losses), desc="sft", unit="step", disable=not progress)
    for epoch in range(config.epochs):
        order = list(trajs)
        rng.shuffle(order)  # every epoch's shuffle runs, also the resumed ones: the RNG stream stays the same
        for i in range(0, len(order), config.batch_size):
            if epoch * per_epoch + i // config.batch_size < len(losses):
                continue  # trained before the checkpoint
            opt.zero_grad(set_to_none=True)
            losses.append(sft_loss(model, order[i: i + config.batch_size], config.max_tokens_per_mb,
                                   autocast=config.autocast))
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            opt.step()
            sched.step()
            bar.set_postfix({"loss": f"{losses[-1]:.3f}"}, refresh=False)
            bar.update(1)
            if len(losses) % 10 == 1:
                logger.info("sft epoch %d step %d: loss %.4f (%.0f s)", epoch, len(losses), losses[-1],
                            time.perf_counter() - start)
            every = config.checkpoint_every
            if ckpt_dir is not None and every and len(losses) % every == 0 and len(losses) < steps:
                state = {"losses": losses, "scheduler": sched.state_dict(), "settings": settings}
                save_checkpoint(ckpt_dir, len(losses), model, opt, state, [])
    bar.close()
    model.eval()
    return losses


def save_model(model: Any, tokenizer: Any, out: Path) -> Path:
    """Save `model` (and the HF tokenizer behind an HFTokenizer) as an HF folder, atomically."""
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():  # left by an interrupted save
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if getattr(model.config, "quantization_config", None) is not None:
        # A checkpoint converted from GGUF keeps a gguf quantization_config, and transformers then
        # refuses save_pretrained; the weights are plain fp32, so a model built without it saves.
        import copy

        from transformers import AutoModelForCausalLM

        config = copy.deepcopy(model.config)
        del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=next(model.parameters()).dtype)
        fresh.load_state_dict(model.state_dict())
        model = fresh
    model.save_pretrained(tmp)
    getattr(tokenizer, "hf", tokenizer).save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def sft_items(train_file: str | None, n: int) -> list[Any]:
    """The first `n` training questions; None or "default" = the embedded qa_train.jsonl."""
    from asearcher.eval.datasets import load_qa

    if train_file is None or train_file == "default":
        # Never load_qa(None): that is the held-out qa_test file, which SFT must not see.
        from asearcher.corpus import ensure_default_corpus

        train_file = str(ensure_default_corpus().qa_train)
    return load_qa(train_file, None, limit=n)


MARKER = "sft.json"  # written last: its presence means the warm-start folder is complete


def finished_warm_start(out: Path) -> bool:
    """Whether `out` holds a complete warm start (a resumed run reuses it instead of training again)."""
    return (Path(out) / MARKER).is_file()


def work_dir(out: Path) -> Path:
    """Where an unfinished warm start into `out` keeps its expert data and SFT checkpoints."""
    return Path(out).with_name(Path(out).name + "-work")


async def _expert_data(config: SFTConfig, train_file: str | None, tools: dict[str, Any], tok: Any,
                       agent_config: Any, work: Path) -> tuple[list[Trajectory], dict[str, Any]]:
    """The expert's kept trajectories and stats: collected once, then read back from `work` on resume
    (the SFT checkpoints there were trained on exactly these)."""
    from asearcher.rl.train.checkpoint import read_groups, write_groups
    from asearcher.rl.train.expert import acollect_expert

    stats_file = work / "expert.json"
    if stats_file.is_file():
        trajs = [t for _, group in read_groups(work / "expert.jsonl") for t in group]
        logger.info("expert episodes reused from %s (%d trajectories)", work, len(trajs))
        return trajs, json.loads(stats_file.read_text())
    items = sft_items(train_file, config.questions)
    logger.info("phase: expert episodes (%d training questions)", len(items))
    trajs, expert = await acollect_expert([(it.id, it.question, list(it.golds)) for it in items], tools, tok,
                                          agent_config, oracle=config.oracle, read_prob=config.read_prob)
    stats = {"expert_episodes": expert.episodes, "expert_em": expert.em, "kept": expert.kept}
    work.mkdir(parents=True, exist_ok=True)
    # one "group" per trajectory keeps the file order; expert.json (written last) marks the data complete
    write_groups(work / "expert.jsonl.tmp", [(i, [t]) for i, t in enumerate(trajs)])
    (work / "expert.jsonl.tmp").rename(work / "expert.jsonl")
    (work / "expert.json.tmp").write_text(json.dumps(stats))
    (work / "expert.json.tmp").rename(stats_file)
    return trajs, stats


async def awarm_start(config: SFTConfig, model_path: str, train_file: str | None, tools: dict[str, Any],
                      agent_config: Any, out: Path, progress: bool = False) -> tuple[Path, dict[str, Any]]:
    """Expert episodes -> SFT -> HF folder at `out`; returns (folder, stats written to `out`/sft.json).

    `train_file` None or "default" = the embedded corpus's qa_train.jsonl (never the held-out file); `agent_config` is the RL run's agent
    config, so the SFT data has the RL run's budgets and format. `out`/sft.json is written last
    (atomically), so `finished_warm_start(out)` is true only for a complete folder. An unfinished warm
    start left in `work_dir(out)` by a killed run is continued, not redone; the folder goes once `out` is complete.
    """
    from asearcher.engines.embedded import load_causal_lm

    config.validate()
    t0 = time.perf_counter()
    model, tok = load_causal_lm(model_path)
    work = work_dir(out)
    trajs, stats = await _expert_data(config, train_file, tools, tok, agent_config, work)
    t1 = time.perf_counter()
    logger.info("phase: SFT (%d expert trajectories, %d epoch(s) of batches of %d)", len(trajs), config.epochs,
                config.batch_size)
    losses = await asyncio.to_thread(run_sft, model, trajs, config, progress, work)
    t2 = time.perf_counter()
    save_model(model, tok, out)
    stats |= {"sft_steps": len(losses), "loss_first": losses[0], "loss_last": losses[-1],
              "time/expert_s": t1 - t0, "time/sft_s": t2 - t1, "time/total_s": time.perf_counter() - t0}
    tmp = out / (MARKER + ".tmp")
    tmp.write_text(json.dumps(stats, indent=1))
    tmp.rename(out / MARKER)
    shutil.rmtree(work, ignore_errors=True)  # out is complete: its checkpoints are no longer needed
    logger.info("SFT warm start: %s", stats)
    return out, stats


def warm_start(config: SFTConfig, model_path: str, train_file: str | None, tools: dict[str, Any],
               agent_config: Any, out: Path, progress: bool = False) -> tuple[Path, dict[str, Any]]:
    """`awarm_start` from synchronous code (no event loop running)."""
    return asyncio.run(awarm_start(config, model_path, train_file, tools, agent_config, out, progress))
