"""`asearcher serve`: the retrieval HTTP server (Search-R1 `/retrieve`, ASearcher `/access`)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
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
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="server processes behind the one port (default 1); they share the memory-mapped index, "
                   "so throughput grows with cores while the index stays in memory once")
    p.add_argument("--save-address-to", type=Path, default=None, metavar="DIR",
                   help="once the index is loaded, write ASearcher's address file Host{ip}_IP{port}.txt (holding "
                   "ip:port) into DIR, and remove it on shutdown: ASearcher's clients (RAG_SERVER_ADDR_DIR) and ours "
                   "(--retriever DIR) find the server there; with --host 0.0.0.0 the file names this machine's IP")
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
    config = config_from_args(ServerConfig, args, flags={"host": "host", "port": "port", "workers": "workers"})
    config.validate()
    if args.index is None:
        from asearcher.retrieval import ensure_default_index

        index_dir = ensure_default_index("bm25")
    else:
        index_dir = args.index
    from asearcher.retrieval import read_meta

    meta = read_meta(index_dir)
    pages_path = _pages_path(args, meta, index_dir)

    from asearcher.retrieval.server_runner import bind_socket

    try:
        sock = bind_socket(config.host, config.port)
    except OSError as e:
        raise UserError(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}") from None
    port = sock.getsockname()[1]  # the real one when port=0
    announce = _AddressFile(args.save_address_to, config.host, port) if args.save_address_to else None
    logger.info("serving %s (%s, %s passages) on http://%s:%d with %d process(es)", index_dir, meta.get("kind", "?"),
                meta.get("count", "?"), config.host, port, config.workers)
    try:
        if config.workers > 1:
            from asearcher.retrieval.server_workers import serve_workers

            serve_workers(index_dir, pages_path, config, sock, on_ready=announce.write if announce else None)
        else:
            _serve_one_process(index_dir, pages_path, config, sock, announce)
    finally:
        if announce is not None:
            announce.remove()  # also here: start-up may fail before the app's shutdown hook exists
    return 0


def _serve_one_process(index_dir: Path, pages_path: Path | None, config: ServerConfig, sock: socket.socket,
                       announce: _AddressFile | None) -> None:
    from asearcher.retrieval.server import create_app
    from asearcher.retrieval.server_runner import run_server

    pages = None
    if pages_path is not None:
        from asearcher.corpus import JsonlPageStore

        pages = JsonlPageStore(pages_path)
    app = create_app(index_dir, pages, config, on_ready=announce.write if announce else None,
                     on_stop=announce.remove if announce else None)
    run_server(app, config, sock)


class _AddressFile:
    """The address file of this server: checked at start-up, written when ready, removed at exit."""

    def __init__(self, folder: Path, bind_host: str, port: int) -> None:
        from asearcher.retrieval.server_address import advertised_host

        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--save-address-to {folder}: cannot create the folder ({e.strerror or e})") from None
        if not os.access(folder, os.W_OK):
            raise UserError(f"--save-address-to {folder}: the folder is not writable")
        self.folder, self.host, self.port = folder, advertised_host(bind_host), port
        self.path: Path | None = None

    def write(self) -> None:
        from asearcher.retrieval.server_address import write_address_file

        self.path = write_address_file(self.folder, self.host, self.port)
        logger.warning("address file written: %s (%s:%d)", self.path, self.host, self.port)

    def remove(self) -> None:
        from asearcher.retrieval.server_address import remove_address_file

        if self.path is not None:
            remove_address_file(self.path)
            self.path = None
