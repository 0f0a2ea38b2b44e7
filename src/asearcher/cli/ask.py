"""`asearcher ask`: answer one question with a search agent, printing its trace live."""

from __future__ import annotations

import argparse
from pathlib import Path

from asearcher.config import help_epilog, load_config


class _IntermixedParser(argparse.ArgumentParser):
    """Lets key=value overrides come after options (`ask "q" --max-turns 4 temperature=0`): plain
    argparse stops taking positionals once an option follows the first one. The subparser's class is
    switched to this one, since the dispatcher builds every subparser as a plain ArgumentParser."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inside:  # parse_known_intermixed_args calls back into parse_known_args
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def register(subparsers: argparse._SubParsersAction) -> None:
    from asearcher.agent.ask import EMBEDDED_ASK_DEFAULTS, AskConfig
    from asearcher.agent.factory import KINDS

    p = subparsers.add_parser(
        "ask",
        help="answer a question with a search agent, showing each step live",
        description="Answer a question with a search agent and print its trace as it runs (queries, top "
        "hits, pages read, the model's notes, the answer). Without --model / --retriever it uses the "
        "embedded SmolLM2-135M-Instruct and the embedded Wikipedia corpus's BM25 index (built on first use).",
        epilog=help_epilog(AskConfig) + "\n\nKeys without a prefix are agent keys: temperature=0 means agent.temperature=0."
        "\nWithout --model (the embedded 135M model) these defaults apply first: "
        + " ".join(f"{k}={v}" for k, v in EMBEDDED_ASK_DEFAULTS.items()) + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.__class__ = _IntermixedParser
    p.add_argument("question", help="the question to answer")
    p.add_argument("--agent", choices=KINDS, default=None, help="agent loop (default: base)")
    p.add_argument("--model", default=None, help="model folder, .gguf file or OpenAI-compatible URL (default: embedded)")
    p.add_argument("--retriever", default=None,
                   help="retrieval server URL, index folder, or 'web' (default: embedded corpus, BM25)")
    p.add_argument("--max-turns", type=int, default=None, help="most agent steps (default: the agent's own)")
    p.add_argument("--json", type=Path, default=None, help="save the whole trajectory as JSON here")
    p.add_argument("--config", type=Path, default=None, help="YAML file with agent/tools/engine settings")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="settings, e.g. temperature=0 tools.topk=3")
    p.set_defaults(func=run)


def _qualified(overrides: list[str]) -> list[str]:
    """Prefix bare keys with `agent.` (the settings people change most)."""
    out = []
    for item in overrides:
        key = item.split("=", 1)[0]
        out.append(item if key.split(".", 1)[0] in ("agent", "tools", "engine") else f"agent.{item}")
    return out


def _embedded_defaults(config_file: Path | None) -> list[str]:
    """The embedded model's ask defaults, less the keys the --config file sets (the file wins)."""
    import yaml

    from asearcher.agent.ask import EMBEDDED_ASK_DEFAULTS

    loaded = yaml.safe_load(config_file.read_text()) if config_file is not None and config_file.is_file() else None
    loaded = loaded if isinstance(loaded, dict) else {}

    def in_file(key: str) -> bool:
        section, name = key.split(".", 1)
        return isinstance(loaded.get(section), dict) and name in loaded[section]

    return [f"{k}={v}" for k, v in EMBEDDED_ASK_DEFAULTS.items() if not in_file(k)]


def run(args: argparse.Namespace) -> int:
    from asearcher.agent.ask import AskConfig, run_ask
    from asearcher.agent.trace import TracePrinter

    extra = _qualified(args.overrides)
    if args.model is None:
        extra = _embedded_defaults(args.config) + extra
    if args.agent:
        extra.append(f"agent.kind={args.agent}")
    if args.max_turns is not None:
        extra.append(f"agent.max_turns={args.max_turns}")
    config = load_config(AskConfig, args.config, extra)
    trajectory = run_ask(args.question, model=args.model, retriever=args.retriever, config=config,
                         trace=TracePrinter(), json_path=args.json)
    return 0 if trajectory.answer is not None else 1
