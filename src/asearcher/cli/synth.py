"""`asearcher synth`: synthesise hard QA from a corpus's link graph; `asearcher synth filter`: keep
the questions of useful difficulty given rollouts from `asearcher eval`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from asearcher.cli.common import IntermixedParser, ParagraphHelpFormatter, add_config_arguments, config_from_args
from asearcher.config import help_epilog

logger = logging.getLogger(__name__)


class _SynthParser(IntermixedParser):
    """Dispatches `synth filter ...` to the filter parser; otherwise parses intermixed as usual."""

    filter_parser: argparse.ArgumentParser

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if args and args[0] == "filter" and not self._inside:
            return self.filter_parser.parse_known_args(args[1:], namespace)
        return super().parse_known_args(args, namespace)


def register(subparsers: argparse._SubParsersAction) -> None:
    from asearcher.synth.config import EMBEDDED_SYNTH_DEFAULTS, FilterConfig, SynthConfig

    p = subparsers.add_parser(
        "synth",
        help="synthesise hard, verified QA from a corpus link graph (and `synth filter` by difficulty)",
        description="Grow questions from random seed pages: propose a simple question, then inject facts "
        "from linked pages and fuzz direct clues, verifying every edit (validity, tool-free difficulty, "
        "answer uniqueness). Accepted questions go to --out in the training format; other seeds to "
        "<stem>.rejected.jsonl. Rerunning the same command resumes. It ends with the counts of accepted seeds and of "
        "the others by reason, and exits with 1 when nothing was accepted, saying why and what to do. "
        "See also: asearcher synth filter --help.",
        epilog=help_epilog(SynthConfig) + "\n\nWithout --proposer (the embedded 135M model) these defaults apply "
        "first:\n" + " ".join(f"{k}={v}" for k, v in EMBEDDED_SYNTH_DEFAULTS.items()) + ".",
        formatter_class=ParagraphHelpFormatter,
    )
    p.__class__ = _SynthParser
    p.add_argument("--corpus", default=None, help="corpus folder (pages.jsonl + links.jsonl); default: embedded corpus")
    p.add_argument(
        "--links", default=None, help="link file instead of <corpus>/links.jsonl (e.g. ASearcher's links JSON)"
    )
    p.add_argument("--pages", default=None, help="pages file instead of <corpus>/pages.jsonl")
    p.add_argument("--n", type=int, default=10, help="seed pages to try (each gives at most one question)")
    p.add_argument(
        "--out", default=None, help="accepted-questions JSONL (default $ASEARCHER_HOME/synth/<corpus>-s<seed>.jsonl)"
    )
    p.add_argument(
        "--proposer", default=None, help="proposing model: OpenAI-compatible URL or model path (default: embedded)"
    )
    p.add_argument(
        "--verifier", default=None, help="instruct model for facts and judging (default: same as --proposer)"
    )
    p.add_argument("--seed", type=int, default=0, help="master seed: seed pages and question ids")
    p.add_argument("--concurrency", type=int, default=4, help="seeds in flight at once")
    add_config_arguments(p, config_type=str, config_help="YAML file of config keys (see below)",
                         overrides_help="config overrides, e.g. direct_samples=4")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)

    f = IntermixedParser(
        prog="asearcher synth filter",
        description="Drop questions never solved, solved in >= 50% of rollouts, or solved with <= 1 search, "
        "given k rollouts per question (`asearcher eval --data Q.jsonl --k K` writes results.jsonl).",
        epilog=help_epilog(FilterConfig),
        formatter_class=ParagraphHelpFormatter,
    )
    f.add_argument("--questions", required=True, help="questions JSONL (e.g. the accepted file of `asearcher synth`)")
    f.add_argument("--rollouts", required=True, help="the eval runner's results.jsonl for those questions")
    f.add_argument("--out", default=None, help="kept questions (default <questions stem>.filtered.jsonl)")
    f.add_argument("--dropped", default=None, help="dropped questions with reasons (default <out stem>.dropped.jsonl)")
    add_config_arguments(f, config_type=str, config_help="YAML file of filter keys (see below)",
                         overrides_help="e.g. max_solve_rate=0.5 metric=judge")
    f.set_defaults(func=run_filter, command="synth")
    p.filter_parser = f


def run(args: argparse.Namespace) -> int:
    from asearcher.agent.ask import embedded_defaults
    from asearcher.synth.config import EMBEDDED_SYNTH_DEFAULTS, SynthConfig
    from asearcher.redact import redacted_output
    from asearcher.synth.outcomes import diagnose
    from asearcher.synth.pipeline import SynthRequest, asynthesize

    defaults = () if args.proposer else embedded_defaults(Path(args.config) if args.config else None,
                                                          EMBEDDED_SYNTH_DEFAULTS)
    config = config_from_args(SynthConfig, args, defaults=defaults)
    req = SynthRequest(
        corpus=args.corpus,
        links=args.links,
        pages=args.pages,
        n=args.n,
        out=args.out,
        proposer=args.proposer,
        verifier=args.verifier if args.verifier is not None else args.proposer,
        seed=args.seed,
        concurrency=args.concurrency,
        progress=not args.no_progress,
    )
    try:
        with redacted_output():
            summary = asyncio.run(asynthesize(req, config))
    except KeyboardInterrupt:
        logger.warning("interrupted: finished seeds are kept; rerun the same command to resume")
        raise
    print(json.dumps(summary, indent=2))
    counts = ", ".join(f"{kind}: {n}" for kind, n in summary["reasons"].items()) or "none"
    print(f"asearcher synth: {summary['accepted']} accepted, {summary['rejected']} rejected, {summary['failed']} "
          f"failed of {summary['seeds']} seeds; not accepted by reason: {counts}", file=sys.stderr)
    if (why := diagnose(summary)) is not None:
        print(f"asearcher synth: {why}", file=sys.stderr)
        return 1
    return 0


def run_filter(args: argparse.Namespace) -> int:
    from asearcher.synth.config import FilterConfig
    from asearcher.synth.filter import filter_questions

    config = config_from_args(FilterConfig, args)
    q = Path(args.questions)
    out = Path(args.out) if args.out else q.with_name(f"{q.stem}.filtered.jsonl")
    report = filter_questions(q, args.rollouts, out, args.dropped, config)
    print(json.dumps(report, indent=2))
    return 0
