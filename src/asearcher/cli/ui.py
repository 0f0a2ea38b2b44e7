"""`asearcher ui`: the local web app (live ask page, trajectory explorer, run dashboard)."""

from __future__ import annotations

import argparse
import secrets

from asearcher.cli.common import ParagraphHelpFormatter, add_config_arguments
from asearcher.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ui",
        help="web app: ask the agent live, explore trajectories, watch training runs",
        description="Serve a web app on 127.0.0.1: an ask page that runs the agent live (the episode of "
        "`asearcher ask`, shown step by step), a trajectory explorer over the results.jsonl / trajectories.jsonl "
        "files under --runs, and a dashboard of their metrics.jsonl curves and eval summaries. Only files under "
        "the --runs folders are readable. Everything the pages load ships inside the package (works offline).",
        epilog="Keys without a prefix are agent keys for the ask page, as for `asearcher ask` (temperature=0 "
        "means agent.temperature=0).\n\nServing beyond loopback needs --allow-remote and a token (--token, or a "
        "random one printed at start).",
        formatter_class=ParagraphHelpFormatter,
    )
    p.add_argument("--runs", nargs="+", action="extend", default=[], metavar="DIR", help="eval output / training run folders to browse")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8500, help="TCP port (default 8500)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (a token is then required)")
    p.add_argument("--token", default="", help="access token required on every request (default: none on loopback)")
    p.add_argument("--model", action="append", default=[], metavar="SPEC",
                   help="a model the ask page offers besides the embedded one (folder, .gguf or URL); repeatable")
    p.add_argument("--retriever", action="append", default=[], metavar="SPEC",
                   help="a retriever the ask page offers besides the embedded BM25 index; repeatable")
    p.add_argument("--tokenizer", default="", help="tokenizer (model folder or .gguf) for every run's token view")
    p.add_argument("--save-dir", default="", help="where the ask page saves trajectories (default <first --runs>/asks)")
    p.add_argument("--no-ask", action="store_true", help="serve the explorer and dashboard only (no agent runs)")
    add_config_arguments(p, config_help="YAML file with the ask page's agent/tools/engine settings",
                         overrides_metavar="key=value", overrides_help="ask settings, e.g. temperature=0 tools.topk=3")
    p.set_defaults(func=run)


def ui_config(args: argparse.Namespace):
    """The UIConfig of the flags; refuses a remote bind without --allow-remote (a token is made if none)."""
    from asearcher.ui.config import UIConfig

    config = UIConfig(runs=list(args.runs), host=args.host, port=args.port, allow_remote=args.allow_remote,
                      token=args.token, models=list(args.model), retrievers=list(args.retriever),
                      tokenizer=args.tokenizer, save_dir=args.save_dir)
    if not config.is_loopback and not config.allow_remote:
        raise UserError(f"--host {args.host}: serving beyond loopback exposes the agent and your runs; "
                        "add --allow-remote (a token is then required)")
    if not config.is_loopback and not config.token:
        config.token = secrets.token_urlsafe(24)
    if not 0 < config.port < 65536:
        raise UserError(f"--port {config.port}: not a TCP port")
    return config


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from asearcher.agent.ask import AskConfig
    from asearcher.cli.ask import _embedded_defaults, _qualified
    from asearcher.cli.common import config_from_args
    from asearcher.ui.app import create_app
    from asearcher.ui.ask import AskChoices, AskRunner

    config = ui_config(args)
    overrides = _qualified(args.overrides)
    plain = config_from_args(AskConfig, args, overrides=overrides)  # fails now on a bad key, not at the first ask
    embedded = config_from_args(AskConfig, args, overrides=overrides, defaults=_embedded_defaults(args.config))
    runner = None if args.no_ask else AskRunner(AskChoices(config.models, config.retrievers),
                                                lambda model: embedded if model is None else plain)
    app = create_app(config, runner)
    where = f"http://{'[' + config.host + ']' if ':' in config.host else config.host}:{config.port}/"
    print(f"asearcher ui: {where}" + (f"?token={config.token}" if config.token else ""), flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0
