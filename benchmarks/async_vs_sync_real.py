"""Async vs sync RL on the real search agent: `asearcher train`'s parts with eta = 0 and eta >= 2.

Where benchmarks/async_vs_sync.py runs a random policy with sleeps as tools, this runs what
`asearcher train` runs: the cpu-default recipe (`--config`) — SmolLM2-135M in a `TransformersEngine`,
the embedded corpus's BM25 index behind the search and access tools, the fill-the-blank fact task, the
f1+format reward, dynamic filtering and difficulty-aware sampling, the in-process `Trainer` and weight
sync — built by `rl/run/components.build_components` and driven by `TrainLoop` through `atrain`. Each run
starts from the same warm-start model folder (`--model`, e.g. an earlier run's `<run>/sft/`; the SFT
stage is off) and trains the same number of steps, so the same number of samples.

What is simulated (`--tool-latency`, default 0): a web round trip. Every search and access call first
waits that many seconds (`asyncio.sleep`: waiting, not computing), as a web search or page fetch takes
1-2 s; the local BM25 call that follows takes milliseconds. The wrapper lives here, not in the product
(a user never wants a slower tool); the product only lets a caller hand its own tools to
`build_components(tools=...)`.

    python benchmarks/async_vs_sync_real.py --model runs/cpu-default-X/sft --steps 4 --tool-latency 1.0 \\
        --json benchmarks/results/async_vs_sync-real-tool1.0-seed0.json

Reported per eta (metrics.jsonl of each run, definitions as in benchmarks/async_vs_sync.py): the training
loop's time (`train_loop_s`, the sum of step intervals: the first wait, i.e. pipeline fill, included; model
loading and evaluation excluded) and the speed-up over the first eta; the trainer's waiting fraction
(`time/wait_s` over the intervals); the mean measured episode time; held-out EM after training
(`--eval`: the recipe's held-out split, `--eval-questions`; the starting model is scored once); and the
efficiency against the bound of `step_time_bound` (its formula and inputs are in the JSON): `bound` with
the run's own measured inputs, `efficiency_vs_first_bound` against the first run's bound (the same
workload: with eta = 0 first, its episodes ran while the trainer was idle).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark, run as a script or loaded by a test
from async_vs_sync import non_negative, positive, save_results, summarise  # noqa: E402

from asearcher import malloc_tuning  # noqa: E402
from asearcher.cli.train import resolve_recipe  # noqa: E402
from asearcher.config import load_config  # noqa: E402
from asearcher.errors import UserError  # noqa: E402
from asearcher.rl.config import TrainConfig  # noqa: E402
from asearcher.rl.launch import atrain  # noqa: E402
from asearcher.rl.run.components import SERVER_LOG, build_components  # noqa: E402
from asearcher.rl.run.metrics import read_metrics  # noqa: E402
from asearcher.tools.factory import make_tools  # noqa: E402

logger = logging.getLogger(__name__)

BOUND_FORMULA = "max(T_train + T_sync, B * E_episode / concurrency)"


def step_time_bound(train_s: float, sync_s: float, episode_s: float, batch: float, concurrency: int) -> float:
    """Shortest possible time per training step when generation fully overlaps training:

        max(T_train + T_sync, B * E[episode time] / concurrency)

    The trainer cannot step faster than it trains and syncs, and the engine, running `concurrency`
    episodes at once, finishes B episodes no faster than B * E / concurrency. Example: 30 s train + 1 s
    sync, 8 episodes of 20 s each, 8 at a time -> max(31, 20) = 31 s per step.
    """
    if concurrency <= 0 or batch <= 0:
        raise ValueError(f"concurrency and batch must be > 0, got {concurrency}, {batch}")
    return max(train_s + sync_s, batch * episode_s / concurrency)


def bound_report(rows: list[dict[str, Any]], episode_s: float, concurrency: int, loop_s: float) -> dict[str, Any]:
    """The bound with its inputs measured in one run (mean train and sync time per step, episodes generated
    per trained step, mean episode time), the loop time it allows for the run's steps, and the run's
    efficiency: bound / measured loop time (1.0 = as fast as the bound)."""
    n = len(rows)
    inputs = {"T_train_s": sum(r["time/train_s"] for r in rows) / n, "T_sync_s": sum(r["time/sync_s"] for r in rows) / n,
              # episodes generated per trained step: the batch plus what dynamic filtering dropped
              "B": sum(r["gen/episodes"] for r in rows) / n, "E_episode_s": episode_s, "concurrency": concurrency}
    step = step_time_bound(inputs["T_train_s"], inputs["T_sync_s"], episode_s, inputs["B"], concurrency)
    return {"formula": BOUND_FORMULA, "inputs": inputs, "step_s": step, "loop_s": n * step,
            "efficiency": n * step / loop_s if loop_s > 0 else 0.0}


class DelayedTool:
    """A tool whose every call first waits `latency_s` seconds (a simulated web round trip); every other
    attribute (name, description, parameters, reader, backend) is the wrapped tool's. `calls[0]` counts
    the calls of this tool and of its per-episode forks (they share the list)."""

    def __init__(self, tool: Any, latency_s: float, calls: list[int] | None = None) -> None:
        self.tool, self.latency_s, self.calls = tool, latency_s, calls if calls is not None else [0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tool, name)

    def for_episode(self) -> DelayedTool:
        fork = getattr(self.tool, "for_episode", None)  # per-episode reading state (the access tool)
        return DelayedTool(fork() if callable(fork) else self.tool, self.latency_s, self.calls)

    async def acall(self, **kwargs: Any) -> Any:
        self.calls[0] += 1
        await asyncio.sleep(self.latency_s)
        return await self.tool.acall(**kwargs)


class EpisodeClock:
    """Wraps an agent factory so that the wall time of every finished training episode is recorded (one
    cancelled at the end of a run, or past its timeout, is not: its partial time would bias the mean)."""

    def __init__(self, factory: Any) -> None:
        self.factory, self.durations = factory, []

    def __call__(self, seed: int) -> Any:
        agent, durations = self.factory(seed), self.durations

        class Timed:
            async def arun(self, *args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                traj = await agent.arun(*args, **kwargs)
                durations.append(time.perf_counter() - start)
                return traj

        return Timed()


def make_config(args: argparse.Namespace, eta: int, out: Path) -> TrainConfig:
    """The recipe with the benchmark's settings on top (the user's `--set` overrides last)."""
    overrides = [f"model={args.model}", "sft.enabled=false", f"total_steps={args.steps}", f"seed={args.seed}",
                 f"rollout.max_staleness={eta}", f"eval.enabled={str(args.eval).lower()}",
                 f"eval.questions={args.eval_questions}", "checkpoint.every_steps=0", f"out_dir={out}",
                 f"name=eta{eta}", *args.set]
    config = load_config(TrainConfig, resolve_recipe(args.config), overrides)
    config.validate()
    return config


def held_out_em(summary: dict[str, Any] | None) -> float | None:
    """EM (avg over samples, mean over datasets) of an evaluation summary; None when not evaluated."""
    if not summary:
        return None
    ems = [next(iter(ds["metrics"]["em"].values())) for ds in summary.values()]
    return sum(ems) / len(ems)


async def arun_setting(args: argparse.Namespace, eta: int, out: Path, before_dir: Path | None) -> dict[str, Any]:
    """One run at `eta`; `before_dir`: an earlier run's evaluation of the same starting model, reused."""
    config = make_config(args, eta, out)
    run_dir = out / f"eta{eta}"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: atrain would otherwise find old metrics and checkpoints
    run_dir.mkdir(parents=True)
    if before_dir is not None:  # TrainLoop skips an evaluation whose summary is there
        shutil.copytree(before_dir, run_dir / "eval_before")
    tools = make_tools(config.retriever or None, config.tools)
    # Wrapped also at latency 0, to count the calls (training and evaluation episodes alike).
    tools = {name: DelayedTool(tool, args.tool_latency) for name, tool in tools.items()}
    parts = build_components(config, server_log=run_dir / SERVER_LOG, tools=tools)
    clock = parts.agent_factory = EpisodeClock(parts.agent_factory)
    load_before = os.getloadavg()[0]
    result = await atrain(config, run_dir, progress=args.progress, parts=parts)
    load_after = os.getloadavg()[0]
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # ~1.6 GB for the 135M model; not needed here
    rows = read_metrics(run_dir / "metrics.jsonl")
    summary = summarise(rows, eta, config.rollout.batch_size)
    episode_s = sum(clock.durations) / max(len(clock.durations), 1)
    return summary | {
        "run_dir": str(run_dir), "episodes_timed": len(clock.durations), "episode_s_mean": episode_s,
        "episode_s_max": max(clock.durations, default=0.0),
        "tool_calls": {name: tool.calls[0] for name, tool in tools.items()}, "tool_latency_s": args.tool_latency,
        "bound": bound_report(rows, episode_s, config.rollout.max_concurrent, summary["train_loop_s"]),
        "em_before": held_out_em(result.evals.get("before")), "em_after": held_out_em(result.evals.get("after")),
        "loadavg_1min_before": load_before, "loadavg_1min_after": load_after,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", type=Path, required=True,
                   help="the starting model folder (an HF folder, e.g. a cpu-default run's <run>/sft/): every eta "
                        "starts from it, so the SFT warm start is skipped")
    p.add_argument("--config", default=None, help="recipe: a YAML file or a bundled recipe name (default cpu-default)")
    p.add_argument("--steps", type=positive(int), default=4, help="training steps per eta (the same for each)")
    p.add_argument("--etas", type=non_negative(int), nargs="+", default=[0, 2], help="max staleness values to compare")
    p.add_argument("--tool-latency", type=non_negative(float), default=0.0,
                   help="seconds every search / access call waits first (a simulated web round trip; 1-2 s is a "
                        "web search or page fetch, the local BM25 call alone is milliseconds)")
    p.add_argument("--eval", action="store_true", help="held-out EM of the starting model and after each run")
    p.add_argument("--eval-questions", type=positive(int), default=64, help="held-out questions (with --eval)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (data order, episode sampling)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="more recipe overrides, applied last (e.g. rollout.max_concurrent=16)")
    p.add_argument("--out", type=Path, default=Path("runs/async_vs_sync_real"), help="run folders (one per eta)")
    p.add_argument("--json", type=Path, default=None, help="also write the results (with the arguments) here")
    p.add_argument("--progress", action="store_true", help="progress bars")
    args = p.parse_args(argv)
    if not (args.model / "config.json").is_file():
        p.error(f"--model {args.model}: not an HF model folder (no config.json)")
    try:  # a bad recipe or override fails here, before any model is loaded
        make_config(args, args.etas[0], args.out)
    except UserError as e:
        p.error(str(e))
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    malloc_tuning.tune()  # as `asearcher train` does: without it the 135M run's RSS nearly doubles
    out = args.out / f"seed{args.seed}"
    results: list[dict[str, Any]] = []
    for eta in args.etas:
        before = Path(results[0]["run_dir"]) / "eval_before" if results and args.eval else None
        results.append(asyncio.run(arun_setting(args, eta, out, before)))
    for r in results:
        r["speedup_vs_first"] = results[0]["train_loop_s"] / r["train_loop_s"]
        # The same workload's bound: the first run's inputs (with eta = 0 first, episodes measured while the
        # trainer was idle, so not slowed by sharing the CPU with it) and the same number of steps.
        r["efficiency_vs_first_bound"] = results[0]["bound"]["loop_s"] / r["train_loop_s"]
    save_results(args, results, out / "results.json")
    print(f"{'eta':>4} {'steps':>5} {'loop_s':>8} {'speedup':>8} {'wait%':>6} {'sync%':>6} {'train_s':>7} "
          f"{'episode_s':>9} {'bound_s':>8} {'eff':>5} {'eff0':>5} {'lag':>4} {'EM after':>8} {'load':>9}")
    for r in results:
        em = "-" if r["em_after"] is None else f"{100 * r['em_after']:.1f}"
        print(f"{r['eta']:>4} {r['steps']:>5} {r['train_loop_s']:>8.1f} {r['speedup_vs_first']:>8.2f} "
              f"{100 * r['wait_frac']:>6.1f} {100 * r['sync_frac']:>6.1f} {r['train_step_s_mean']:>7.2f} "
              f"{r['episode_s_mean']:>9.2f} {r['bound']['loop_s']:>8.1f} {r['bound']['efficiency']:>5.2f} "
              f"{r['efficiency_vs_first_bound']:>5.2f} "
              f"{r['lag_max']:>4.0f} {em:>8} {r['loadavg_1min_before']:>4.1f}-{r['loadavg_1min_after']:<4.1f}")
    if results[0]["em_before"] is not None:
        print(f"held-out EM of the starting model: {100 * results[0]['em_before']:.1f}")
    return results


if __name__ == "__main__":
    main()
