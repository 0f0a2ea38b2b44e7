"""What the subcommands share: a help formatter, and for those taking a config `--config FILE` plus
`key=value` overrides that may sit anywhere among the options, and loading a config class from them."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from asearcher.config import load_config

T = TypeVar("T")


class ParagraphHelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph written on one line (the descriptions) to the terminal, and prints a
    paragraph that has line breaks in it (the epilogs' key listings and examples) as written.

    Paragraphs are separated by blank lines. argparse's default formatter would join the key
    listing into one block; RawDescriptionHelpFormatter would print a description as one long line.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        return "\n\n".join(
            textwrap.indent(p, indent) if "\n" in p.strip("\n")
            # Never split "cpu-default" or a path: a reader copies these names from the help.
            else textwrap.fill(" ".join(p.split()), width, initial_indent=indent, subsequent_indent=indent,
                               break_on_hyphens=False, break_long_words=False)
            for p in paragraphs
        )


class IntermixedParser(argparse.ArgumentParser):
    """Lets key=value overrides come after options (`ask "q" --max-turns 4 temperature=0`): plain
    argparse stops taking positionals once an option follows the first one."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inside:  # parse_known_intermixed_args calls back into parse_known_args
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def add_config_arguments(
    p: argparse.ArgumentParser,
    *,
    config_help: str,
    overrides_help: str,
    config_type: type = Path,
    config_metavar: str | None = None,
    overrides_metavar: str = "KEY=VALUE",
) -> None:
    """Add `--config` and the positional `overrides` to `p`, and let the overrides sit among options.

    The dispatcher builds every subparser as a plain ArgumentParser, so its class is switched here
    (unless it is already an IntermixedParser, e.g. a subclass with more dispatching)."""
    if not isinstance(p, IntermixedParser):
        p.__class__ = IntermixedParser
    p.add_argument("--config", type=config_type, default=None, metavar=config_metavar, help=config_help)
    p.add_argument("overrides", nargs="*", metavar=overrides_metavar, help=overrides_help)


def flag_overrides(args: argparse.Namespace, flags: Mapping[str, str]) -> list[str]:
    """`key=value` for each option in `flags` (args attribute -> config key) that was given (not None)."""
    return [f"{key}={getattr(args, dest)}" for dest, key in flags.items() if getattr(args, dest) is not None]


def config_from_args(
    cls: type[T],
    args: argparse.Namespace,
    *,
    config_file: Any = None,
    defaults: Sequence[str] = (),
    overrides: Sequence[str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> T:
    """Load `cls`: its defaults, then the config file (`config_file`, else `args.config`), then
    `defaults` (subcommand presets, already stripped of keys the file sets), then the key=value
    overrides (`overrides`, else `args.overrides`), then the dedicated options named in `flags`,
    so an explicit option wins over everything."""
    path = config_file if config_file is not None else args.config
    given = list(args.overrides) if overrides is None else list(overrides)
    return load_config(cls, path, [*defaults, *given, *flag_overrides(args, flags or {})])
