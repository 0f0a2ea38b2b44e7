"""`asearcher eval`: run an agent over a QA benchmark and write results, summary and plots (resumable)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from asearcher.cli.common import ParagraphHelpFormatter, add_config_arguments, config_from_args
from asearcher.config import help_epilog

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from asearcher.agent.ask import EMBEDDED_DEFAULTS
    from asearcher.agent.factory import KINDS
    from asearcher.eval.config import EvalConfig

    p = subparsers.add_parser(
        "eval",
        help="evaluate an agent on QA datasets (EM, F1, cover-EM, judge; avg@k, pass@k, maj@k, agg@k)",
        description="Evaluate an agent on one or more QA datasets. Rerunning the same command resumes an "
        "interrupted run (refused, naming the differences, when the settings changed; see --force-new). An "
        "episode a server fails (down, refusing, hanging past episode_timeout_s) is recorded with its typed stop "
        "reason and counted in the summary; the run goes on. See docs/eval.md.",
        epilog=help_epilog(EvalConfig) + "\n\nWithout --model (the embedded 135M model) these defaults apply first:\n"
        + " ".join(f"{k}={v}" for k, v in EMBEDDED_DEFAULTS.items()) + ".",
        formatter_class=ParagraphHelpFormatter,
    )
    p.add_argument("--data", default=None, help="dataset file/folder or benchmark name (nq, hotpotqa, 2wiki, "
                   "musique, bamboogle, frames, gaia, ..., or ASearcher's test-data folder names such as "
                   "HotpotQA_rand1000); several, comma-separated, give one summary each plus an overall one; "
                   "default: the embedded corpus's qa_test.jsonl")
    p.add_argument("--data-root", default=None, help="folder holding <name>/test.jsonl (default $ASEARCHER_DATA)")
    p.add_argument("--agent", default="base", choices=KINDS, help="agent loop")
    p.add_argument("--model", default=None, help="model path or OpenAI-compatible URL (default: embedded SmolLM2)")
    p.add_argument("--retriever", default=None, help="index folder, retrieval server URL or 'web' "
                   "(default: the embedded corpus's BM25 index)")
    p.add_argument("--k", type=int, default=1, help="samples per question (avg@k, pass@k, maj@k); sample s "
                   "runs with seed agent.seed + s (0 + s when unset), so the k samples differ")
    p.add_argument("--aggregator", default=None, help="with --k > 1: an LLM (OpenAI-compatible URL or model path) "
                   "that picks one answer among each question's k answers, reported as agg@k")
    p.add_argument("--summary-model", default=None, help="an external LLM (OpenAI-compatible URL or model path) "
                   "that reads page parts and writes the notes the agent keeps, instead of the policy: the "
                   "ASearcher paper's test-time setting (base and reasoning agents; prompt agent.summary_prompt); "
                   "default: the policy reads pages itself")
    p.add_argument("--concurrency", type=int, default=4, help="episodes in flight at once")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    p.add_argument("--out", default=None, help="output folder (default $ASEARCHER_HOME/eval/<data>-<agent>-<model>)")
    p.add_argument("--judge", default=None, help="LLM judge: OpenAI-compatible URL (or a local model path)")
    p.add_argument("--judge-model", default=None, help="model name sent to the judge server (and cache key)")
    add_config_arguments(p, config_type=str, config_help="YAML file of config keys (see below)",
                         overrides_help="config overrides, e.g. agent.max_turns=16")
    p.add_argument("--force-new", action="store_true", help="start anew in --out even if it holds a run made "
                   "with other settings (its files are moved into a replaced-* subfolder, not deleted)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asearcher.errors import UserError
    from asearcher.eval.config import EvalConfig
    from asearcher.eval.pipeline import EvalRequest, aevaluate
    from asearcher.redact import redacted_output

    if args.k < 1 or args.concurrency < 1 or (args.limit is not None and args.limit < 1):
        raise UserError(f"--k, --concurrency and --limit must be >= 1 (got {args.k}, {args.concurrency}, {args.limit})")
    from asearcher.agent.ask import embedded_defaults

    # The embedded 135M model gets the settings it can follow and that fit its llama.cpp slots.
    defaults = embedded_defaults(Path(args.config) if args.config else None) if args.model is None else ()
    config = config_from_args(EvalConfig, args, defaults=defaults)
    if args.k > 1 and config.agent.temperature == 0:
        logger.warning("--k %d at agent.temperature=0: greedy samples are identical whatever their seeds; set "
                       "agent.temperature above 0 for k distinct samples", args.k)
    if args.aggregator and args.k == 1:
        logger.warning("--aggregator has nothing to choose from with --k 1; it is not called")
    req = EvalRequest(
        data=args.data, data_root=args.data_root, agent=args.agent, model=args.model, retriever=args.retriever,
        k=args.k, concurrency=args.concurrency, limit=args.limit, out=args.out, judge=args.judge,
        judge_model=args.judge_model, progress=not args.no_progress, force_new=args.force_new,
        aggregator=args.aggregator, summary_model=args.summary_model,
    )
    try:
        with redacted_output():
            result = asyncio.run(aevaluate(req, config))
    except KeyboardInterrupt:
        logger.warning("interrupted: finished episodes are kept; rerun the same command to resume")
        raise
    print((result["out"] / "summary.md").read_text())
    print(f"results, summary and plots in {result['out']}")
    return 0
