"""`asearcher train`: fully asynchronous RL of a search agent (default: the CPU recipe, embedded model and corpus)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from asearcher.cli.common import ParagraphHelpFormatter, add_config_arguments, config_from_args
from asearcher.config import dotted, help_epilog, load_config, to_dict

logger = logging.getLogger(__name__)

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
DEFAULT_RECIPE = RECIPES / "cpu-default.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    from asearcher.rl.config import TrainConfig

    p = subparsers.add_parser(
        "train",
        help="train an agent with fully asynchronous RL (staleness-bounded, interruptible generation)",
        description="Train a search agent with fully asynchronous RL. With no flags: the cpu-default recipe on the "
        "embedded model and corpus. Writes <out_dir>/<name>-<timestamp>/ (config.yaml, metrics.jsonl, "
        f"checkpoints/, report.md). Recipes: {', '.join(sorted(r.stem for r in RECIPES.glob('*.yaml')))}.",
        epilog=help_epilog(TrainConfig),
        formatter_class=ParagraphHelpFormatter,
    )
    add_config_arguments(p, config_type=str, overrides_help="config overrides, e.g. rollout.max_staleness=0",
                         config_help="recipe: a YAML file or a bundled recipe name (default cpu-default)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run in RUN_DIR from its latest "
                   "checkpoint (its config.yaml, plus any overrides given here); a run stopped in its SFT stage "
                   "continues from its last SFT checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the launch plan and exit without starting anything "
                   "(no Ray, no weights loaded): actors with their GPUs / CPUs, estimated memory per GPU from the "
                   "model's config.json (or built-in shapes of the recipe models), weight-sync path, files read; "
                   "an impossible plan is an error naming the key")
    p.set_defaults(func=run)


def resolve_recipe(spec: str | None) -> Path:
    """A recipe path: None = cpu-default, a bundled name (with or without .yaml), or a file."""
    from asearcher.errors import UserError

    if spec is None:
        return DEFAULT_RECIPE
    p = Path(spec)
    if p.is_file():
        return p
    bundled = RECIPES / (spec if spec.endswith(".yaml") else f"{spec}.yaml")
    if bundled.is_file():
        return bundled
    raise UserError(f"--config {spec!r}: no such file and no bundled recipe of that name "
                    f"({sorted(r.stem for r in RECIPES.glob('*.yaml'))})")


# Keys a resumed run may change: how long it runs, how often it saves, where metrics also go, where its
# rollout servers are and how a launched one starts (a restarted server may have a new address; the resumed
# run puts the checkpoint's weights on it first). The Ray address is where the cluster is, not how the run
# trains: a resumed Slurm job gets a new head (scripts/slurm_ray.sbatch). Any other key (model, data, agent,
# rewards, optimisation, staleness, engine.backend, ...) would mix records made with different settings in
# one run, so `--resume` refuses it (issue 12: resume is safe).
RESUME_MAY_CHANGE = ("total_steps", "checkpoint.", "tensorboard", "wandb", "log_trajectories", "eval.concurrency",
                     "cluster.ray_address", "engine.servers", "engine.launch")


def check_resume_overrides(saved: object, config: object, run_dir: Path) -> None:
    """Refuse key=value overrides on --resume that change what the run's records mean, naming each."""
    from asearcher.errors import UserError

    old, new = dotted(to_dict(saved)), dotted(to_dict(config))
    changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
               if old.get(k) != new.get(k) and not k.startswith(RESUME_MAY_CHANGE)]
    if changed:
        raise UserError(f"--resume {run_dir}: these overrides change settings the run was trained with "
                        f"({'; '.join(changed)}); only {', '.join(RESUME_MAY_CHANGE)} may change on resume. "
                        "Start a new run for other settings.")


def run(args: argparse.Namespace) -> int:
    from asearcher.errors import UserError
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.launch import atrain
    from asearcher.rl.train.checkpoint import latest_checkpoint

    if args.resume:
        run_dir = Path(args.resume)
        if args.config:
            raise UserError("--resume uses the run's own config.yaml: give overrides, not --config")
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"--resume {run_dir}: no config.yaml there (not a run folder)")
        config = config_from_args(TrainConfig, args, config_file=run_dir / "config.yaml")
        check_resume_overrides(load_config(TrainConfig, run_dir / "config.yaml"), config, run_dir)
        # A run killed in its SFT stage has no RL checkpoint yet; the stage continues what it finished.
        if latest_checkpoint(run_dir) is None and not config.sft.enabled:
            raise UserError(f"--resume {run_dir}: the run has no checkpoint yet")
    else:
        run_dir = None
        config = config_from_args(TrainConfig, args, config_file=resolve_recipe(args.config))
    if args.dry_run:
        from asearcher.rl.distributed.plan import make_launch_plan

        print(make_launch_plan(config, str(run_dir or args.config or "cpu-default")).render())
        return 0
    result = asyncio.run(atrain(config, run_dir, resume=bool(args.resume), progress=not args.no_progress))
    print(f"trained {result.steps} steps (policy version {result.version}); run folder {result.run_dir}")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0
