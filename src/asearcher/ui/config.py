"""Settings of `asearcher ui` (the CLI fills them from its flags)."""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.config import cfg

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class UIConfig:
    """Where the UI listens, what it may read, and what the ask page may run."""

    runs: list[str] = cfg([], "Folders of eval outputs and training runs to browse; nothing outside them is readable.")
    host: str = cfg("127.0.0.1", "Address to bind; anything but loopback needs allow_remote and a token.")
    port: int = cfg(8500, "TCP port.")
    allow_remote: bool = cfg(False, "Allow binding a non-loopback address (the token is then required).")
    token: str = cfg("", "Access token; every request must carry it (?token=, cookie or Bearer header). "
                         "Empty on loopback = none; empty with allow_remote = a random one, printed at start.")
    models: list[str] = cfg([], "Models the ask page offers besides the embedded one (folder, .gguf or URL).")
    retrievers: list[str] = cfg([], "Retrievers the ask page offers besides the embedded BM25 index "
                                    "(index folder, server URL or 'web').")
    tokenizer: str = cfg("", "Tokenizer (model folder or .gguf) for the token view of every run; empty = each "
                             "run's own model (config.yaml / run.json), when it is a local path or the embedded one; "
                             "'bytes' = the scripted engine's byte tokenizer.")
    save_dir: str = cfg("", "Where the ask page saves trajectories; empty = <first --runs folder>/asks, "
                            "else ./asearcher-asks.")

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")
