"""The `asearcher` command. Each subcommand is a thin module here wrapping one library call.

A subcommand module defines `register(subparsers)`, which adds its parser and sets `func` to a
function taking the parsed args and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from asearcher import __version__
from asearcher.errors import UserError
from asearcher.log import setup_logging

# Order is the order shown in `asearcher --help`, which follows the data flow.
SUBCOMMANDS = ["corpus", "index", "serve", "ask", "prompts", "eval", "synth", "train", "ui"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asearcher",
        description="Long-horizon search agents: retrieval, agent runtime, evaluation, async RL training.",
    )
    parser.add_argument("--version", action="version", version=f"asearcher {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"asearcher.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    from asearcher import malloc_tuning

    malloc_tuning.tune()  # before any tensor: bounded RSS in long multi-threaded torch runs
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"asearcher {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asearcher {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
