"""`ServerProcess`: an inference server (vLLM, SGLang) run as a child process on 127.0.0.1 at a free port,
healthy before `start()` returns and stopped with its whole process group. The server-specific part is
its command line and environment (`VLLMServer` in engines/vllm_engine.py, `SGLangServer` in
engines/sglang_engine.py). For single-machine runs, tests and the Ray engine actors; clusters that run
servers themselves give their URLs instead (engine.servers).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


class ServerProcess:
    """A server for `model` in a child process.

    Args:
        model: HF model folder.
        python: interpreter that has the server's package (default: this one).
        extra_args: more server flags (e.g. ["--max-model-len", "2048"]).
        env: extra environment.
        log_path: where the server's output goes (default: discarded).
    """

    name = "server"

    def __init__(
        self, model: str | Path, *, python: str = sys.executable, extra_args: list[str] | None = None,
        env: dict[str, str] | None = None, log_path: str | Path | None = None,
    ) -> None:
        self.model = str(model)
        self.python = python
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.log_path = log_path
        self.port = 0
        self.startup_s = 0.0
        self._proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The server's command line (at `self.port`, with `self.extra_args`)."""
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """The server's environment: this process's, plus `self.env`."""
        return {**os.environ, **self.env}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 900.0) -> ServerProcess:
        """Launch and wait until GET /health answers 200 (on CPU or a busy machine: minutes)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        start = time.perf_counter()
        # Own process group: stop() ends the server and the engine/worker processes it spawned.
        self._proc = subprocess.Popen(self.command(), env=self.environment(), stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with code {self._proc.returncode} (log: {self.log_path})")
            try:
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > timeout_s:
                self.stop()
                raise RuntimeError(f"{self.name} server not healthy after {timeout_s:.0f} s (log: {self.log_path})")
            time.sleep(0.5)
        self.startup_s = time.perf_counter() - start
        log.info("%s serving %s at %s (started in %.1f s)", self.name, self.model, self.url, self.startup_s)
        return self

    def stop(self) -> None:
        """Terminate the server's process group and wait for it."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
