"""Async vs sync RL on a long-tailed workload: the same run with eta = 0 (synchronous) and eta = 4.

What is real: the `TrainLoop`, `RolloutExecutor`, `StalenessController`, `Trainer` (packing, decoupled
PPO loss, AdamW on a random Qwen2 policy of `--layers` x `--hidden`), `InProcessWeightSync`, and a
`TransformersEngine` (batched KV-cache generation, exact behaviour logprobs, weights updated in place
after every step, in-flight generations resumed under the new weights). The trainer step and every
engine step run in worker threads of one process, so on a small CPU they compete for the same cores.

What is simulated: the workload. Each question has a fixed turn count: most have `--short-turns`,
a share `--long-frac` has `--long-turns` (10x longer, as in the paper's long-horizon search). A turn
is a real generation of `--tokens-per-turn` tokens plus a tool call that is only an
`asyncio.sleep(--tool-latency-s)` (a search or page-access round trip: waiting, not computing),
followed by an observation of `--obs-chars` characters appended as context (loss mask 0). The reward
(share of sampled bytes that are lower-case letters, ~0.07 for the random policy) is learnable and
varies within a group, so the held-out reward after training (32 short episodes sampled at T = 1
with fixed seeds) shows whether staleness hurt learning.

The same comparison on the real search agent (SmolLM2, the corpus, BM25, the tools, the cpu-default recipe):
benchmarks/async_vs_sync_real.py, which shares this module's summary and argument helpers.

    python benchmarks/async_vs_sync.py --out runs/async_vs_sync --seed 0    # docs/benchmarks.md's main table
    python benchmarks/async_vs_sync.py --tool-latency-s 0.5 --json benchmarks/results/x.json

Reported per eta, for the same number of trained samples (`--steps` x batch): wall time and the
speed-up over the first eta; the fraction of the training loop the trainer spent waiting for a batch
(`time/wait_s`: blocked in `aget_batch`; weight-sync time is *not* waiting, it is reported
separately as sync%) over all steps and after the first step (the first step always waits for a whole
batch to be generated, in both modes: pipeline fill); the largest token lag; groups dropped as too
stale; mean sampled tokens of the trained trajectories (turns x `--tokens-per-turn`: a long tail dropped
as too stale would bias training towards short episodes); the held-out reward before and after. `--json` also writes the results (and the load
average before and after each run) to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from asearcher.api.engine import GenRequest
from asearcher.api.trajectory import Segment, StopReason, Trajectory
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.transformers_engine import TransformersEngine
from asearcher.eval.datasets import QAItem
from asearcher.rl.config import TrainConfig
from asearcher.rl.rollout.data import TrainData
from asearcher.rl.run.components import TrainComponents
from asearcher.rl.run.metrics import read_metrics
from asearcher.rl.run.train_loop import TrainLoop
from asearcher.rl.train.trainer import Trainer

logger = logging.getLogger(__name__)


def make_model(seed: int, hidden: int, layers: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=ByteTokenizer().vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=4096, tie_word_embeddings=False)
    return Qwen2ForCausalLM(cfg).eval()


class ThreadBudgetEngine(TransformersEngine):
    """A TransformersEngine whose steps use `threads` torch threads (0: torch's default).

    torch.set_num_threads sets the calling thread's OpenMP pool size (and the default of threads created
    later), and engine steps run on whichever asyncio worker thread is free, so it is set at every step.
    """

    def __init__(self, *args, threads: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threads = threads
        self.busy_s = 0.0  # wall time inside engine steps (prefill or decode), summed
        self.reprefill_tokens = 0  # tokens of in-flight rows re-prefilled under new weights (a weight update)

    def _step(self, admit):  # runs in a worker thread
        if self.threads:
            torch.set_num_threads(self.threads)
        if self._stale:
            self.reprefill_tokens += sum(len(s.prompt) + len(s.out) for s in self._active)
        start = time.perf_counter()
        try:
            return super()._step(admit)
        finally:
            self.busy_s += time.perf_counter() - start


class ThreadBudgetTrainer(Trainer):
    """A Trainer whose steps use `threads` torch threads (0: torch's default); see ThreadBudgetEngine."""

    def __init__(self, *args, threads: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threads = threads

    def step(self, samples):  # runs in a worker thread
        if self.threads:
            torch.set_num_threads(self.threads)
        return super().step(samples)


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
    c.rollout.seed = args.seed
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


def _frac(num: list[float], den: list[float]) -> float:
    return sum(num) / max(sum(den), 1e-9)


def summarise(rows: list[dict], eta: int, batch_size: int) -> dict[str, float]:
    """Timing and staleness figures of one run from its metrics.jsonl rows (definitions: module docstring)."""
    wait, sync = [r["time/wait_s"] for r in rows], [r["time/sync_s"] for r in rows]
    train, interval = [r["time/train_s"] for r in rows], [r["time/interval_s"] for r in rows]
    return {
        "eta": eta, "steps": len(rows), "trained_samples": len(rows) * batch_size,
        "train_loop_s": sum(interval),
        "wait_frac": _frac(wait, interval), "wait_frac_after_first": _frac(wait[1:], interval[1:]),
        "overtaken_wait_frac": _frac([r.get("time/overtaken_wait_s", 0.0) for r in rows], interval),
        "sync_frac": _frac(sync, interval), "train_frac": _frac(train, interval),
        "train_step_s_mean": sum(train) / len(train), "first_wait_s": wait[0],
        "lag_max": max(r.get("lag/max", 0.0) for r in rows),
        "lag_mean": sum(r.get("lag/mean", 0.0) for r in rows) / len(rows),
        "dropped_too_stale": sum(r.get("drops/too_stale", 0.0) for r in rows),
        "sampled_tokens_per_traj": sum(r["traj/sampled_tokens"] for r in rows) / len(rows),
    }


async def arun_setting(args: argparse.Namespace, eta: int, out: Path) -> dict[str, float]:
    config = make_config(args, eta, out)
    model = make_model(args.seed, args.hidden, args.layers)
    engine_model = copy.deepcopy(model).to(getattr(torch, args.engine_dtype))
    engine = ThreadBudgetEngine(engine_model, ByteTokenizer(), max_batch_size=args.max_concurrent, seed=args.seed,
                                threads=args.engine_threads, prefix_cache_tokens=args.prefix_cache_tokens)
    data = TrainData(questions(args.train_questions, "q"), epochs=100, shuffle=True, seed=args.seed)
    parts = TrainComponents(trainer_model=model.train(), engine=engine,
                            agent_factory=lambda s: TurnsAgent(engine, s, args), reward_fn=letter_reward, data=data)
    trainer = ThreadBudgetTrainer(parts.trainer_model, config.trainer, threads=args.trainer_threads)
    before = await held_out_reward(engine, args)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    engine.busy_s, engine.prefill_tokens, engine.reused_tokens, engine.reprefill_tokens = 0.0, 0, 0, 0
    result = await TrainLoop(config, parts, out / f"eta{eta}", progress=False, trainer=trainer).arun()
    wall = time.perf_counter() - start
    engine_stats = {"engine_busy_frac": engine.busy_s / wall, "engine_prefill_tokens": engine.prefill_tokens,
                    "engine_reprefill_tokens": engine.reprefill_tokens, "engine_reused_tokens": engine.reused_tokens}
    load_after = os.getloadavg()[0]
    rows = read_metrics(result.run_dir / "metrics.jsonl")
    after = await held_out_reward(engine, args)
    await engine.aclose()
    return summarise(rows, eta, config.rollout.batch_size) | engine_stats | {
        "wall_s": wall, "reward_before": before, "reward_after": after,
        "loadavg_1min_before": load_before, "loadavg_1min_after": load_after,
    }


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def non_negative(kind):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=positive(int), default=32, help="training steps per eta (the same for each)")
    p.add_argument("--etas", type=non_negative(int), nargs="+", default=[0, 4], help="max staleness values to compare")
    p.add_argument("--group-size", type=positive(int), default=4, help="trajectories per question")
    p.add_argument("--batch-questions", type=positive(int), default=4, help="questions (groups) per training step")
    p.add_argument("--max-concurrent", type=positive(int), default=96,
                   help="most episodes in flight (rollout.max_concurrent; also the engine's decode batch)")
    p.add_argument("--short-turns", type=positive(int), default=1, help="turns of a short episode")
    p.add_argument("--long-turns", type=positive(int), default=10, help="turns of a long episode")
    p.add_argument("--long-frac", type=non_negative(float), default=0.15, help="share of questions with long episodes")
    p.add_argument("--tokens-per-turn", type=positive(int), default=4, help="tokens the policy samples per turn")
    p.add_argument("--tool-latency-s", type=non_negative(float), default=1.0,
                   help="simulated tool round trip per turn (asyncio.sleep: waiting, no compute; ~1 s is a web "
                        "search or page fetch, a local retrieval server is ~0.05 s)")
    p.add_argument("--obs-chars", type=non_negative(int), default=0,
                   help="extra characters of each tool observation (context, loss mask 0)")
    p.add_argument("--hidden", type=positive(int), default=512, help="hidden size of the random Qwen2 policy")
    p.add_argument("--layers", type=positive(int), default=12, help="decoder layers of the random Qwen2 policy")
    p.add_argument("--engine-threads", type=non_negative(int), default=1,
                   help="torch threads of each engine step (0: torch's default, shared with the trainer)")
    p.add_argument("--trainer-threads", type=non_negative(int), default=1,
                   help="torch threads of each trainer step (0: torch's default, shared with the engine)")
    p.add_argument("--engine-dtype", choices=["float32", "bfloat16"], default="bfloat16",
                   help="the engine's copy of the policy (the trainer keeps float32 master weights; weight sync "
                        "casts; behaviour logprobs then differ from the trainer's by bf16 rounding, which the "
                        "decoupled PPO loss corrects for, as with a bf16 vLLM engine)")
    p.add_argument("--prefix-cache-tokens", type=non_negative(int), default=32768,
                   help="the engine's prefix KV cache (0: every turn re-prefills its whole context)")
    p.add_argument("--lr", type=positive(float), default=3e-5,
                   help="AdamW learning rate (3e-5: the policy moves ~0.02-0.04 nats/token per step, as in real RL "
                        "runs; at 1e-4 and above one step moves it ~0.3 and 4-step-old data is far off-policy)")
    p.add_argument("--train-questions", type=positive(int), default=256, help="training questions (epochs repeat them)")
    p.add_argument("--eval-questions", type=positive(int), default=32, help="held-out episodes for the reward")
    p.add_argument("--seed", type=int, default=0, help="model init, data order and episode sampling seed")
    p.add_argument("--out", type=Path, default=Path("runs/async_vs_sync"), help="run folders (one per eta)")
    p.add_argument("--json", type=Path, default=None, help="also write the results (with the arguments) here")
    args = p.parse_args(argv)
    if args.max_concurrent < args.group_size:
        p.error(f"--max-concurrent ({args.max_concurrent}) must be >= --group-size ({args.group_size})")
    if args.long_frac > 1:
        p.error(f"--long-frac must be in [0, 1], got {args.long_frac}")
    if args.hidden % 4:
        p.error(f"--hidden must be a multiple of 4 (4 attention heads), got {args.hidden}")
    return args


def save_results(args: argparse.Namespace, results: list[dict], path: Path) -> None:
    """The results with the arguments, as JSON, at `path` and (with `--json`) at `args.json`."""
    payload = json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1)
    for target in [path] + ([args.json] if args.json is not None else []):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(payload)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = [asyncio.run(arun_setting(args, eta, args.out / f"seed{args.seed}")) for eta in args.etas]
    base = results[0]
    for r in results:
        r["speedup_vs_first"] = base["wall_s"] / r["wall_s"]
    save_results(args, results, args.out / f"results-seed{args.seed}.json")
    print(f"{'eta':>4} {'steps':>5} {'wall_s':>8} {'speedup':>8} {'wait%':>6} {'wait%>1':>8} {'ovt%':>5} {'sync%':>6} "
          f"{'train_s':>7} {'eng%':>5} {'lag':>4} {'stale':>5} {'tok/traj':>8} {'reward before':>13} {'after':>6} {'load':>9}")
    for r in results:
        print(f"{r['eta']:>4} {r['steps']:>5} {r['wall_s']:>8.1f} {r['speedup_vs_first']:>8.2f} "
              f"{100 * r['wait_frac']:>6.1f} {100 * r['wait_frac_after_first']:>8.1f} {100 * r['overtaken_wait_frac']:>5.1f} {100 * r['sync_frac']:>6.1f} "
              f"{r['train_step_s_mean']:>7.2f} {100 * r['engine_busy_frac']:>5.1f} {r['lag_max']:>4.0f} {r['dropped_too_stale']:>5.0f} "
              f"{r['sampled_tokens_per_traj']:>8.1f} {r['reward_before']:>13.3f} {r['reward_after']:>6.3f} "
              f"{r['loadavg_1min_before']:>4.1f}-{r['loadavg_1min_after']:<4.1f}")
    return results


if __name__ == "__main__":
    main()
