"""A local fake of an SGLang server's native API, for tests: SGLang needs a CUDA GPU and cannot run
here, so this speaks the documented request/response shapes of /generate, /abort_request,
/pause_generation, /continue_generation, /update_weights_from_disk, /init_weights_update_group,
/update_weights_from_distributed and /health, and lets tests inject failures.

Its "model" is deterministic: the next token is a function of the weights and the context, so a
resubmitted prompt + partial output continues exactly as an uninterrupted generation would, and
every sampled token's logprob names the weights that produced it (`logprob_of(weights)`).

As a program (`python fake_sglang_server.py PORT`) it serves on PORT until terminated: the stand-in for
`python -m sglang.launch_server` that tests of `engine.launch` start (`stand_in_launcher`).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
import zlib
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def logprob_of(weights: str) -> float:
    """The logprob the fake reports for every token sampled under `weights` (a model path)."""
    return -((zlib.crc32(weights.encode()) % 97) + 1) / 100.0


def next_token(weights: str, context: list[int]) -> int:
    """Printable ASCII byte ids (ByteTokenizer decodes them); never EOS."""
    h = zlib.crc32(f"{weights}|{len(context)}|{context[-1]}".encode())
    return 97 + h % 26  # 'a'..'z'


class FakeSGLangServer:
    def __init__(self, token_delay_s: float = 0.01, port: int = 0) -> None:
        self.weights = "init"
        self.token_delay_s = token_delay_s
        self.healthy = True
        self.dead = False  # kill(): every endpoint answers 503, running generations fail mid-way
        self.fail_generate_with: int | None = None  # HTTP status for /generate (e.g. 503)
        self.fail_update = False
        self.paused = False
        self.running: dict[str, dict] = {}  # rid -> {"abort": bool}
        self.seen: list[tuple[str, dict]] = []
        self.running_at_update: list[int] = []  # requests still generating when an update arrived
        self.app = self._build_app()
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self.start()

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)

    async def await_tokens(self, n: int, timeout_s: float = 10.0) -> None:
        """Wait until some running request has sampled at least `n` tokens (tests use it instead of
        sleeping a guessed time on a loaded machine)."""
        deadline = time.monotonic() + timeout_s
        while not any(s["n"] >= n for s in list(self.running.values())):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no request reached {n} tokens")
            await asyncio.sleep(0.005)

    def kill(self) -> None:
        """Fail like a crashed server: 503 everywhere, running generations included."""
        self.dead = True

    def revive(self) -> None:
        self.dead = False

    def stop(self) -> None:
        """Shut the server down (connections are then refused)."""
        if self._server is not None:
            for req in self.running.values():
                req["abort"] = True
            self._server.should_exit = True
            self._thread.join(5)
            self._server = None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        async def health():
            return JSONResponse({}, status_code=200 if self.healthy and not self.dead else 503)

        @app.post("/generate")
        async def generate(req: Request):
            body = await req.json()
            self.seen.append(("/generate", body))
            if self.dead:
                return JSONResponse({"error": "server died"}, status_code=503)
            if self.fail_generate_with:
                return JSONResponse({"error": "injected"}, status_code=self.fail_generate_with)
            result = await self._generate(body)
            if self.dead:
                return JSONResponse({"error": "server died"}, status_code=503)
            return result

        @app.post("/abort_request")
        async def abort(req: Request):
            body = await req.json()
            self.seen.append(("/abort_request", body))
            for rid, state in self.running.items():
                if body.get("abort_all") or rid == body.get("rid"):
                    state["abort"] = True
            return {}

        @app.post("/pause_generation")
        async def pause(req: Request):
            body = await req.json()
            self.seen.append(("/pause_generation", body))
            if body.get("mode", "abort") == "abort":
                for state in self.running.values():
                    state["abort"] = True
            self.paused = True
            return {}

        @app.post("/continue_generation")
        async def cont(req: Request):
            self.seen.append(("/continue_generation", {}))
            self.paused = False
            return {}

        @app.post("/update_weights_from_disk")
        async def update(req: Request):
            body = await req.json()
            self.seen.append(("/update_weights_from_disk", body))
            self.running_at_update.append(sum(1 for s in self.running.values() if not s["abort"]))
            if self.fail_update:
                return {"success": False, "message": "injected failure", "num_paused_requests": 0}
            self.weights = body["model_path"]
            return {"success": True, "message": "ok", "num_paused_requests": 0}

        @app.post("/init_weights_update_group")
        async def init_group(req: Request):
            self.seen.append(("/init_weights_update_group", await req.json()))
            return {"success": True, "message": "ok"}

        @app.post("/update_weights_from_distributed")
        async def update_dist(req: Request):
            body = await req.json()
            self.seen.append(("/update_weights_from_distributed", body))
            self.weights = "nccl:" + ",".join(body["names"])
            return {"success": True, "message": "ok"}

        return app

    async def _generate(self, body: dict) -> dict:
        rid = body["rid"]
        state = self.running[rid] = {"abort": False, "n": 0}
        sp = body["sampling_params"]
        ctx = list(body["input_ids"])
        out: list[int] = []
        entries: list[list] = []
        finish = {"type": "length", "length": sp["max_new_tokens"]}
        try:
            while self.paused and not state["abort"]:
                await asyncio.sleep(0.005)
            while len(out) < sp["max_new_tokens"]:
                if self.dead:
                    break
                if state["abort"]:
                    finish = {"type": "abort", "message": "Abort before decoding"}
                    break
                await asyncio.sleep(self.token_delay_s)
                if state["abort"]:  # the abort landed during this step
                    continue
                tok = next_token(self.weights, ctx + out)
                out.append(tok)
                state["n"] = len(out)
                entries.append([logprob_of(self.weights), tok, None])
                if any(s and s in bytes(out).decode() for s in sp.get("stop", [])):
                    finish = {"type": "stop", "matched": "stop-string"}
                    break
        finally:
            del self.running[rid]
        return {
            "text": bytes(out).decode(),
            "output_ids": out,
            "meta_info": {"id": rid, "finish_reason": finish, "prompt_tokens": len(ctx),
                          "completion_tokens": len(out), "output_token_logprobs": entries},
        }


def stand_in_launcher(folder: Path) -> Path:
    """An executable that `engine.launch_python` can name: it takes `-m sglang.launch_server ... --port P ...`
    as SGLang's interpreter would, and serves this fake on P instead (with this interpreter)."""
    script = folder / "sglang-python"
    script.write_text(f"""#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = "--port" ]; then port=$2; fi
  shift
done
echo "stand-in for sglang.launch_server on port $port"
exec {sys.executable} {Path(__file__).resolve()} "$port"
""")
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    server = FakeSGLangServer(token_delay_s=0.001, port=int(sys.argv[1]))
    server._thread.join()  # until SIGTERM (the launcher's stop) ends the process
