"""`asearcher prompts`: list and show the agents' prompts, and import ASearcher's from a checkout."""

from __future__ import annotations

import argparse
from pathlib import Path

from asearcher.cli.common import ParagraphHelpFormatter
from asearcher.errors import UserError

_EPILOG = """\
A prompt is a named set of texts for one kind of agent (the question template, the frames around
tool results, ...), kept in a YAML prompt file. asearcher ships its own (written for this project);
select one with agent.prompt=NAME, or one from your own file with agent.prompt_file=PATH.

`import` reads the prompt definitions of a checkout of the ASearcher repository (its training and
evaluation prompts for base and reasoning models) into a prompt file, so ASearcher's released
checkpoints run with the prompts they were trained with. Imported prompts have style "asearcher":
the agents then show search results, page parts and the reasoning history in ASearcher's layout
(e.g. a hit as "[Doc 1](url):" and its text), the layout those checkpoints were trained on; the
packaged prompts have style "native" (our own layout). Nothing of ASearcher's ships with asearcher.

examples:
  asearcher prompts list
  asearcher prompts show base-raw
  git clone https://github.com/inclusionAI/ASearcher && asearcher prompts import ASearcher --out asearcher-prompts.yaml
  asearcher eval ... agent.prompt_file=asearcher-prompts.yaml agent.prompt=asearcher-train-search-access
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prompts", help="list, show and import agent prompts",
        description="List and show the agents' prompts, and import ASearcher's from a checkout of its repository.",
        epilog=_EPILOG, formatter_class=ParagraphHelpFormatter,
    )
    sub = p.add_subparsers(dest="prompts_command", metavar="ACTION")
    ls = sub.add_parser("list", help="the prompts of a prompt file: name, agents, format, text hash")
    ls.add_argument("--file", metavar="PATH", default="", help="prompt file (default: the packaged one)")
    show = sub.add_parser("show", help="print every text of one prompt")
    show.add_argument("name", help="prompt name (see `asearcher prompts list`)")
    show.add_argument("--file", metavar="PATH", default="", help="prompt file (default: the packaged one)")
    imp = sub.add_parser("import", help="write a prompt file from a checkout of the ASearcher repository")
    imp.add_argument("checkout", type=Path, help="folder of a checkout of github.com/inclusionAI/ASearcher")
    imp.add_argument("--out", type=Path, default=Path("asearcher-prompts.yaml"), metavar="PATH",
                     help="prompt file to write (default: ./asearcher-prompts.yaml)")
    imp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    if args.prompts_command == "list":
        return _list(args.file)
    if args.prompts_command == "show":
        return _show(args.name, args.file)
    if args.prompts_command == "import":
        return _import(args.checkout, args.out, args.force)
    args.parser.print_help()
    return 2


def _list(file: str) -> int:
    from asearcher.agent.prompts import BUILTIN, DEFAULT_PROMPT, load_prompt_file

    table = load_prompt_file(file or BUILTIN)
    print(f"prompts in {file or BUILTIN}:")
    width = max(len(n) for n in table)
    for name, p in table.items():
        default = [k for k, d in DEFAULT_PROMPT.items() if d == name and not file]
        note = f"  (default for {', '.join(default)})" if default else ""
        print(f"  {name:<{width}}  agents: {','.join(p.agents):<10} format: {p.format:<4}  style: {p.style:<9}  "
              f"sha256: {p.sha256[:12]}{note}")
    return 0


def _show(name: str, file: str) -> int:
    from asearcher.agent.prompts import BUILTIN, load_prompt_file

    table = load_prompt_file(file or BUILTIN)
    if name not in table:
        raise UserError(f"no prompt {name!r} in {file or BUILTIN}; there: {sorted(table)}")
    p = table[name]
    print(f"{name}  (agents: {', '.join(p.agents)}; format: {p.format}; style: {p.style}; sha256: {p.sha256})")
    for key, text in p.texts.items():
        print(f"\n--- {key} ---\n{text}")
    return 0


def _import(checkout: Path, out: Path, force: bool) -> int:
    from asearcher.agent.prompt_import import import_asearcher
    from asearcher.agent.prompts import load_prompt_file, write_prompt_file

    if out.exists() and not force:
        raise UserError(f"--out {out} exists; pass --force to overwrite it")
    report = import_asearcher(checkout)
    header = (f"Prompts imported by `asearcher prompts import` from {checkout.resolve()}\n"
              f"(files: {', '.join(str(Path(r).relative_to(checkout)) for r in report.read)}).\n"
              "The texts are ASearcher's; the frames are its format contract. Use with\n"
              f"agent.prompt_file={out} agent.prompt=NAME")
    write_prompt_file(out, report.prompts, header)
    table = load_prompt_file(out)  # what was written reads back and validates
    for name, p in table.items():
        print(f"imported {name}  (agents: {', '.join(p.agents)}; format: {p.format}; style: {p.style}; "
              f"sha256: {p.sha256[:12]})")
    for why in report.skipped:
        print(f"skipped: {why}")
    print(f"wrote {out}; use it with agent.prompt_file={out} agent.prompt=NAME")
    return 0
