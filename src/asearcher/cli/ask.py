"""`asearcher ask`: answer one question with a search agent, printing its trace live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asearcher.cli.common import ParagraphHelpFormatter, add_config_arguments, config_from_args
from asearcher.config import help_epilog
from asearcher.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from asearcher.agent.ask import EMBEDDED_DEFAULTS, AskConfig
    from asearcher.agent.factory import KINDS

    p = subparsers.add_parser(
        "ask",
        help="answer a question with a search agent, showing each step live",
        description="Answer a question with a search agent and print its trace as it runs (queries, top "
        "hits, pages read, the model's notes, the answer). Without --model / --retriever it uses the "
        "embedded SmolLM2-135M-Instruct and the embedded Wikipedia corpus's BM25 index (built on first use).",
        epilog=help_epilog(AskConfig) + "\n\nKeys without a prefix are agent keys: temperature=0 means agent.temperature=0."
        "\nWithout --model (the embedded 135M model) these defaults apply first: "
        + " ".join(f"{k}={v}" for k, v in EMBEDDED_DEFAULTS.items()) + ".",
        formatter_class=ParagraphHelpFormatter,
    )
    p.add_argument("question", help="the question to answer")
    p.add_argument("--agent", choices=KINDS, default=None, help="agent loop (default: base)")
    p.add_argument("--model", default=None, help="model folder, .gguf file or OpenAI-compatible URL (default: embedded)")
    p.add_argument("--retriever", default=None,
                   help="retrieval server URL, index folder, or 'web' (default: embedded corpus, BM25)")
    p.add_argument("--summary-model", default=None, help="an external LLM (model path or OpenAI-compatible URL) "
                   "that reads page parts and writes the notes the agent keeps, instead of the policy (the "
                   "ASearcher paper's test-time setting; base and reasoning agents); default: the policy reads")
    p.add_argument("--max-turns", type=int, default=None, help="most agent steps (default: the agent's own)")
    p.add_argument("--json", type=Path, default=None, help="save the whole trajectory as JSON here")
    add_config_arguments(p, config_help="YAML file with agent/tools/engine settings", overrides_metavar="key=value",
                         overrides_help="settings, e.g. temperature=0 tools.topk=3")
    p.set_defaults(func=run)


def _qualified(overrides: list[str]) -> list[str]:
    """Prefix bare keys with `agent.` (the settings people change most)."""
    out = []
    for item in overrides:
        key = item.split("=", 1)[0]
        out.append(item if key.split(".", 1)[0] in ("agent", "tools", "engine") else f"agent.{item}")
    return out


def _embedded_defaults(config_file: Path | None) -> list[str]:
    """The embedded model's defaults, less the keys the --config file sets (the file wins)."""
    from asearcher.agent.ask import embedded_defaults

    return embedded_defaults(config_file)


def run(args: argparse.Namespace) -> int:
    from asearcher.agent.ask import AskConfig, run_ask
    from asearcher.agent.trace import TracePrinter
    from asearcher.redact import RedactingStream, redacted_output

    if args.json is not None and args.json.is_dir():
        # Checked before the episode runs: otherwise the trajectory is lost to a late IsADirectoryError.
        raise UserError(f"--json {args.json}: is a folder; give a file path")
    config = config_from_args(
        AskConfig, args, overrides=_qualified(args.overrides),
        defaults=_embedded_defaults(args.config) if args.model is None else (),
        flags={"agent": "agent.kind", "max_turns": "agent.max_turns"},
    )
    with redacted_output():
        trajectory = run_ask(args.question, model=args.model, retriever=args.retriever, config=config,
                             trace=TracePrinter(RedactingStream(sys.stdout)), json_path=args.json,
                             summary_model=args.summary_model)
    if error := trajectory.metadata.get("error"):
        print(f"asearcher ask: the episode ended early ({error['stop_reason']}): {error['kind']}: "
              f"{error['message']}", file=sys.stderr)
    return 0 if trajectory.answer is not None else 1
