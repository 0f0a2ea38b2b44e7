"""`asearcher serve`: the retrieval HTTP server (Search-R1 `/retrieve`, ASearcher `/access`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asearcher.cli.common import ParagraphHelpFormatter, add_config_arguments, config_from_args
from asearcher.config import help_epilog
from asearcher.errors import UserError
from asearcher.retrieval.server_config import ServerConfig

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve an index over HTTP (/retrieve, /access, /health)",
        description="Serve a retrieval index over HTTP: Search-R1's POST /retrieve, ASearcher's POST /access "
        "and GET /health. Without --index, the embedded Wikipedia corpus's BM25 index is used (built "
        "on first use).",
        epilog=help_epilog(ServerConfig),
        formatter_class=ParagraphHelpFormatter,
    )
    p.add_argument("--index", type=Path, default=None, help="index directory (default: the embedded corpus's BM25 index)")
    p.add_argument("--pages", type=Path, default=None,
                   help="pages .jsonl backing /access (default: the pages file recorded in the index's meta.json)")
    p.add_argument("--no-pages", action="store_true", help="serve no /access even if the index names a pages file")
    p.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default 8000)")
    add_config_arguments(p, config_help="YAML file with server settings", overrides_metavar="key=value",
                         overrides_help="server settings, e.g. max_batch=32")
    p.set_defaults(func=run)


def _pages_path(args: argparse.Namespace, meta: dict, index_dir: Path) -> Path | None:
    if args.no_pages:
        return None
    if args.pages is not None:
        if not args.pages.is_file():
            raise UserError(f"--pages {args.pages}: no such file")
        return args.pages
    recorded = meta.get("pages")
    if not recorded:
        logger.warning("%s/meta.json names no pages file: /access will answer 501 (give --pages)", index_dir)
        return None
    if not Path(recorded).is_file():
        raise UserError(f"{index_dir}/meta.json: pages file {recorded} does not exist (give --pages or --no-pages)")
    return Path(recorded)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(ServerConfig, args, flags={"host": "host", "port": "port"})
    config.validate()
    if args.index is None:
        from asearcher.retrieval import ensure_default_index

        index_dir = ensure_default_index("bm25")
    else:
        index_dir = args.index
    from asearcher.retrieval import read_meta

    meta = read_meta(index_dir)
    pages_path = _pages_path(args, meta, index_dir)

    from asearcher.retrieval.server import create_app
    from asearcher.retrieval.server_runner import run_server

    pages = None
    if pages_path is not None:
        from asearcher.corpus import JsonlPageStore

        pages = JsonlPageStore(pages_path)
    app = create_app(index_dir, pages, config)
    logger.info("serving %s (%s, %s passages) on http://%s:%d", index_dir, meta.get("kind", "?"),
                meta.get("count", "?"), config.host, config.port)
    run_server(app, config)
    return 0
