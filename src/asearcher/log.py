"""Logging set-up: one logger per component (`logging.getLogger(__name__)`), configured once here."""

from __future__ import annotations

import logging
import os


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger for the CLI; ASEARCHER_LOG_LEVEL overrides the level."""
    level = os.environ.get("ASEARCHER_LOG_LEVEL", "DEBUG" if verbose else "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # Third-party libraries are chatty at INFO; keep them at WARNING unless asked.
    for name in ("httpx", "httpcore", "urllib3", "sentence_transformers", "transformers", "faiss", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
