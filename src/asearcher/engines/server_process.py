"""`ServerProcess`: a rollout server (vLLM, SGLang) this process launches as a child on 127.0.0.1 and stops.

What the two launchers share: a free port, the child in its own session (so that a terminal's Ctrl-C does
not reach it half-way and `stop` ends it with every worker it spawned), waiting for GET /health, an error
that shows the server's last output when it does not come up, and stopping it when the start-up fails or
is interrupted. Subclasses give the command line and the environment (`VLLMServer` in vllm_engine.py,
`SGLangServer` in sglang_engine.py). Used by engine.launch (engines/factory.py): local `asearcher train`
and the Ray engine actors (rl/distributed/ray_actors.py), each starting a server on its own machine / GPUs.
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
from typing import Self

import httpx

from asearcher.errors import UserError

log = logging.getLogger(__name__)


class ServerProcess:
    """A server for `model` in a child process on 127.0.0.1 (a free port). For single-machine runs and tests;
    clusters start servers themselves.

    Args:
        model: HF model folder.
        python: interpreter that has the server's package (default: this one).
        extra_args: more server flags (e.g. ["--max-model-len", "2048"]).
        env: extra environment (values may be numbers, as YAML gives them).
        log_path: where the server's output goes (default: discarded).
    """

    name = "server"
    module = ""  # what `python -m` runs
    unset_env: tuple[str, ...] = ()  # variables the server must never get, even from this process or `env`

    def __init__(
        self, model: str | Path, *, python: str = sys.executable, extra_args: list[str] | None = None,
        env: dict[str, str] | None = None, log_path: str | Path | None = None,
    ) -> None:
        self.model = str(model)
        self.python = python
        self.extra_args = list(extra_args or [])
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.log_path = log_path
        self.port = 0
        self.startup_s = 0.0
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        """The server's flags for `self.model` on `self.port` (before `extra_args`)."""
        raise NotImplementedError

    def base_env(self) -> dict[str, str]:
        """Environment the server always gets (before `env`)."""
        return {}

    def environment(self) -> dict[str, str]:
        """The server's environment: this process's, `base_env()`, then `env`, less `unset_env`."""
        env = {**os.environ, **self.base_env(), **self.env}
        for name in self.unset_env:
            env.pop(name, None)
        return env

    def start(self, timeout_s: float = 900.0) -> Self:
        """Launch and wait until GET /health answers 200 (on a busy CPU machine: minutes)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [self.python, "-m", self.module, *self.args(), *self.extra_args]
        env = self.environment()
        if self.log_path:
            Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        start = time.perf_counter()
        # Own process group: stop() ends the server and the engine/worker processes it spawned.
        self._proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if out is not subprocess.DEVNULL:
            out.close()  # the child has its own copy
        try:
            self._await_healthy(start, timeout_s)
        except BaseException:
            # Ctrl-C during the minutes of start-up included: the server is in its own session, so nothing
            # else would stop it (gigabytes of memory on a CPU, a GPU's memory on a GPU).
            self.stop()
            raise
        self.startup_s = time.perf_counter() - start
        log.info("%s serving %s at %s (started in %.1f s)", self.name, self.model, self.url, self.startup_s)
        return self

    def _await_healthy(self, start: float, timeout_s: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise self._failure(f"exited with code {self._proc.returncode} before it was healthy")
            try:
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > timeout_s:
                raise self._failure(f"was not healthy after {timeout_s:.0f} s")
            time.sleep(0.5)

    def _failure(self, what: str) -> UserError:
        """The error for a server that did not come up (a missing package, a bad flag, too little memory are
        the usual causes): its last output lines and where the whole log is."""
        tail = ""
        if self.log_path and Path(self.log_path).is_file():
            lines = Path(self.log_path).read_text(errors="replace").splitlines()[-15:]
            tail = "; its last output:\n  " + "\n  ".join(lines) + f"\n(full log: {self.log_path})"
        return UserError(f"the {self.name} server for {self.model} ({self.python} -m {self.module}) "
                         f"{what}{tail or ' (its output was not logged)'}; check engine.launch_python, "
                         "engine.launch_args and engine.launch_env")

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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
