"""Configuration of the retrieval HTTP server (`asearcher serve`)."""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.config import cfg
from asearcher.errors import UserError


@dataclass
class ServerConfig:
    """Settings of the `/retrieve` + `/access` server; every key can be overridden as key=value."""

    host: str = cfg("127.0.0.1", "Interface to listen on (0.0.0.0 exposes the server to the network).")
    port: int = cfg(8000, "TCP port to listen on (0 picks a free one).")
    default_topk: int = cfg(3, "Passages per query when a request gives no topk (Search-R1 uses 3).")
    max_topk: int = cfg(100, "Largest topk a request may ask for; larger ones get a 422.")
    max_queries: int = cfg(
        4096,
        "Most queries (or URLs) in one request; more get a 422. Search-R1's rollout sends every active "
        "rollout's query in one request (512 prompts x 5 samples = 2,560 with its defaults).",
    )
    max_response_bytes: int = cfg(
        16_777_216,
        "Largest reply (16 MiB): a request whose reply would be larger (queries x topk x passage size, "
        "estimated before searching and checked after) gets a 413 asking for fewer queries or a smaller topk.",
    )
    max_batch: int = cfg(64, "Most queries the micro-batcher hands to the retriever at once.")
    max_wait_ms: float = cfg(1.0, "How long the micro-batcher waits for more queries after the first (0 = none).")
    batch_workers: int = cfg(
        1,
        "Batches searched at once (each dense batch encodes with dense.threads threads). 1 measured best "
        "on 2 shared cores (more workers made smaller batches and higher p99); more can pay off on a "
        "machine with idle cores.",
    )
    workers: int = cfg(
        1,
        "Server processes sharing the port (`asearcher serve` only). Each opens the index memory-mapped, so "
        "the index is in memory once; each dense worker holds its own query encoder (~0.3-0.5 GB). More "
        "workers than cores only add memory.",
    )
    max_body_bytes: int = cfg(1_048_576, "Largest request body accepted; larger ones get a 413 before parsing.")
    header_timeout_s: float = cfg(
        10.0, "Seconds a client has to send a request's headers; slower connections are closed (slowloris).")
    body_timeout_s: float = cfg(30.0, "Seconds a client has to send a request's body once its headers arrived (408 after).")
    keep_alive_s: float = cfg(5.0, "Seconds an idle keep-alive connection stays open between requests.")
    log_level: str = cfg("warning", "uvicorn log level: debug, info, warning or error.")

    def validate(self) -> None:
        """Reject impossible settings with a message naming the key."""
        if not 0 <= self.port <= 65535:
            raise UserError(f"port: {self.port} is not a TCP port (0-65535)")
        if self.max_topk < 1:
            raise UserError(f"max_topk: must be >= 1, got {self.max_topk}")
        if not 1 <= self.default_topk <= self.max_topk:
            raise UserError(f"default_topk: must be between 1 and max_topk={self.max_topk}, got {self.default_topk}")
        for key in ("max_queries", "max_batch", "max_body_bytes", "max_response_bytes", "batch_workers", "workers"):
            if getattr(self, key) < 1:
                raise UserError(f"{key}: must be >= 1, got {getattr(self, key)}")
        for key in ("header_timeout_s", "body_timeout_s", "keep_alive_s"):
            if getattr(self, key) <= 0:
                raise UserError(f"{key}: must be > 0, got {getattr(self, key)}")
        if self.max_wait_ms < 0:
            raise UserError(f"max_wait_ms: must be >= 0, got {self.max_wait_ms}")
        if self.log_level not in ("debug", "info", "warning", "error", "critical"):
            raise UserError(f"log_level: {self.log_level!r} is not one of debug, info, warning, error, critical")
