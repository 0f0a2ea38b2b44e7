"""Async vs sync RL on a long-tailed workload: the same run with eta = 0 (synchronous) and eta = 4.

The real `TrainLoop`, `RolloutExecutor`, `StalenessController`, `Trainer` and `InProcessWeightSync`
run; only the workload is synthetic, so that episode lengths are controlled. Each question has a
turn count: most have `--short-turns` turns, a fraction `--long-frac` has `--long-turns` (10x
longer, as in the paper's long-horizon search). Every turn is a real generation of a few tokens by
a `TransformersEngine` serving a small random Qwen2 (weights updated in place after every step) plus
a simulated tool call of `--tool-latency-s` (an `asyncio.sleep`, like waiting on a search server).
The reward (fraction of sampled bytes that are lower-case letters) is learnable, so the final policy's held-out
reward shows whether staleness hurt learning.

    python benchmarks/async_vs_sync.py --steps 20 --out runs/async_vs_sync

Reported per setting: wall time to the same number of trained samples, the fraction of that time the
trainer waited for data (the first step excluded and included), and the held-out reward (sampled at T = 1 with fixed seeds).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import logging
import time
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from asearcher.api.engine import GenRequest
from asearcher.api.trajectory import Segment, StopReason, Trajectory
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.transformers_engine import TransformersEngine
from asearcher.eval.datasets import QAItem
from asearcher.rl.components import TrainComponents
from asearcher.rl.config import TrainConfig
from asearcher.rl.data import TrainData
from asearcher.rl.metrics import read_metrics
from asearcher.rl.train_loop import atrain

logger = logging.getLogger(__name__)


def make_model(seed: int, hidden: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=ByteTokenizer().vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=2048, tie_word_embeddings=False)
    return Qwen2ForCausalLM(cfg).eval()


def turns_of(qid: str, short: int, long: int, long_frac: float) -> int:
    """Deterministic per-question turn count: `long` for a `long_frac` share of questions."""
    u = int(hashlib.sha1(qid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return long if u < long_frac else short


class TurnsAgent:
    """An append-only multi-turn episode with a fixed turn count: generate, "call a tool", observe."""

    name = "turns"

    def __init__(self, engine, seed: int | None, args: argparse.Namespace, temperature: float = 1.0) -> None:
        self.engine, self.seed, self.args, self.temperature = engine, seed, args, temperature

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        a, tok = self.args, self.engine.tokenizer
        seg = Segment()
        seg.append_context(tok.chat_ids([{"role": "user", "content": question}]))
        n = turns_of(qid, a.short_turns, a.long_turns, a.long_frac)
        for turn in range(n):
            seed = None if self.seed is None else self.seed + turn
            res = await self.engine.agenerate(GenRequest(input_ids=list(seg.token_ids), max_new_tokens=a.tokens_per_turn,
                                                         temperature=self.temperature, seed=seed))
            if res.finish_reason == "abort":
                return None
            seg.append_sampled(res.output_ids, res.logprobs, res.versions)
            await asyncio.sleep(a.tool_latency_s)  # the tool call: waiting, not computing
            seg.append_context(tok.encode(f"\n<obs {turn}>" + "." * a.obs_chars + "\n"))
        return Trajectory(qid=qid, question=question, answer="", stop_reason=StopReason.ANSWERED, segments=[seg],
                          gold=list(gold or []), agent=self.name, metadata={"turns": n})


async def letter_reward(traj: Trajectory) -> float:
    """Fraction of sampled ids that are lower-case ASCII letters (about 10% for a random policy):
    a learnable signal that varies within a group."""
    ids = [i for s in traj.segments for i, m in zip(s.token_ids, s.loss_mask) if m]
    return sum(1 for i in ids if 97 <= i <= 122) / max(len(ids), 1)


def questions(n: int, prefix: str) -> list[QAItem]:
    return [QAItem(id=f"{prefix}{i}", question=f"question {prefix}{i}?", golds=["-"], source="toy") for i in range(n)]


def make_config(args: argparse.Namespace, eta: int, out: Path) -> TrainConfig:
    c = TrainConfig()
    c.name, c.out_dir, c.total_steps, c.seed = f"eta{eta}", str(out), args.steps, args.seed
    c.rollout.group_size, c.rollout.batch_questions = args.group_size, args.batch_questions
    c.rollout.max_staleness, c.rollout.max_concurrent = eta, args.max_concurrent
    c.trainer.lr, c.trainer.max_tokens_per_mb = args.lr, 8192
    c.filter.enabled, c.eval.enabled = False, False
    c.checkpoint.every_steps = 0
    c.validate()
    return c


async def held_out_reward(engine, args: argparse.Namespace) -> float:
    """Mean reward of sampled (T = 1, fixed seeds) episodes on held-out questions (short ones, for speed)."""
    a = copy.copy(args)
    a.long_frac = 0.0
    trajs = await asyncio.gather(*(TurnsAgent(engine, 1000 * i, a).arun(q.question, qid=q.id)
                                   for i, q in enumerate(questions(args.eval_questions, "held"))))
    return sum([await letter_reward(t) for t in trajs if t is not None]) / len(trajs)


async def arun_setting(args: argparse.Namespace, eta: int, out: Path) -> dict[str, float]:
    config = make_config(args, eta, out)
    model = make_model(args.seed, args.hidden)
    engine = TransformersEngine(model, ByteTokenizer(), max_batch_size=args.max_concurrent, seed=args.seed)
    data = TrainData(questions(args.train_questions, "q"), epochs=100, shuffle=True, seed=args.seed)
    parts = TrainComponents(trainer_model=copy.deepcopy(model).train(), engine=engine,
                            agent_factory=lambda s: TurnsAgent(engine, s, args), reward_fn=letter_reward, data=data)
    before = await held_out_reward(engine, args)
    start = time.perf_counter()
    result = await atrain(config, run_dir=out / f"eta{eta}", progress=False, parts=parts)
    wall = time.perf_counter() - start
    rows = read_metrics(result.run_dir / "metrics.jsonl")
    after = await held_out_reward(engine, args)
    await engine.aclose()
    wait = [r["time/wait_s"] for r in rows]
    interval = [r["time/interval_s"] for r in rows]
    return {
        "eta": eta, "steps": result.steps, "trained_samples": result.steps * config.rollout.batch_size,
        "wall_s": wall, "train_loop_s": sum(interval),
        "wait_frac": sum(wait) / max(sum(interval), 1e-9),
        "wait_frac_after_first": sum(wait[1:]) / max(sum(interval[1:]), 1e-9),
        "lag_max": max(r.get("lag/max", 0.0) for r in rows),
        "reward_before": before, "reward_after": after,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20, help="training steps per setting (same for both)")
    p.add_argument("--etas", type=int, nargs="+", default=[0, 4], help="max staleness values to compare")
    p.add_argument("--group-size", type=int, default=4)
    p.add_argument("--batch-questions", type=int, default=4)
    p.add_argument("--max-concurrent", type=int, default=64)
    p.add_argument("--short-turns", type=int, default=1)
    p.add_argument("--long-turns", type=int, default=10)
    p.add_argument("--long-frac", type=float, default=0.15)
    p.add_argument("--tokens-per-turn", type=int, default=8)
    p.add_argument("--tool-latency-s", type=float, default=0.5)
    p.add_argument("--obs-chars", type=int, default=0, help="characters of each tool observation (context, mask 0)")
    p.add_argument("--hidden", type=int, default=128, help="hidden size of the random Qwen2 policy")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--train-questions", type=int, default=256)
    p.add_argument("--eval-questions", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/async_vs_sync"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = [asyncio.run(arun_setting(args, eta, args.out)) for eta in args.etas]
    base = results[0]
    for r in results:
        r["speedup_vs_first"] = base["wall_s"] / r["wall_s"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "results": results}, indent=1))
    print(f"{'eta':>4} {'steps':>5} {'wall_s':>8} {'speedup':>8} {'wait%':>6} {'wait%>1':>8} {'lag':>4} "
          f"{'reward before':>13} {'after':>6}")
    for r in results:
        print(f"{r['eta']:>4} {r['steps']:>5} {r['wall_s']:>8.1f} {r['speedup_vs_first']:>8.2f} "
              f"{100 * r['wait_frac']:>6.1f} {100 * r['wait_frac_after_first']:>8.1f} {r['lag_max']:>4.0f} "
              f"{r['reward_before']:>13.3f} {r['reward_after']:>6.3f}")
    return results


if __name__ == "__main__":
    main()
