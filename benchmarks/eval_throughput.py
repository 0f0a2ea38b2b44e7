"""Evaluation throughput: the real runner + reasoning agent + OpenAIEngine against a fixed-delay server.

A local OpenAI-compatible server (uvicorn, in a subprocess on 127.0.0.1) answers every chat request
after `--delay` seconds with a canned `<answer>` reply, so each episode is one LLM call. With
`--concurrency C` the best possible rate is C / delay episodes per second; the harness overhead is
what separates the measurement from that ideal (target: >= 90%). The same number of bare httpx
posts is timed first, as the ceiling of this machine and server (on a loaded CPU it is far below
the ideal, and the runner can only be judged against it).

    python benchmarks/eval_throughput.py --questions 200 --concurrency 32 --delay 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from asearcher.agent.config import AgentConfig
from asearcher.agent.factory import make_agent
from asearcher.engines.config import EngineConfig
from asearcher.engines.openai_http import OpenAIEngine
from asearcher.eval.datasets import QAItem
from asearcher.eval.metrics import summarize
from asearcher.eval.runner import RunOptions, arun_eval

CANNED = "<think>I know this one.</think>\n<answer>Paris</answer>"
# Reply to a judge prompt (the eval tests use this server as policy and judge at once).
CANNED_VERDICT = "Rationale: the candidate names the same city.\nVerdict: correct"


def serve(port: int, delay: float) -> None:
    """The fixed-delay OpenAI-compatible server (runs in the child process)."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "canned", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> dict:
        await asyncio.sleep(delay)
        is_judge = "Candidate answer:" in json.dumps(body.get("messages", []))
        content = CANNED_VERDICT if is_judge else CANNED
        return {
            "id": "x", "object": "chat.completion", "model": "canned",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 12, "total_tokens": 13},
        }

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=256)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/models", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"benchmark server at {url} did not start in {timeout} s")


async def _arun(url: str, n: int, concurrency: int, out: Path, fsync: bool) -> tuple[float, list[dict]]:
    engine = OpenAIEngine(url, EngineConfig(mode="chat", logprobs=False, model="canned"))
    items = [QAItem(id=f"q{i}", question=f"What is the capital of France? (variant {i})", golds=["Paris"], source="bench")
             for i in range(n)]
    # min_actions_before_answer=0: the canned server answers at once, as when docs/benchmarks.md was
    # measured (ASearcher's answer phase, the reasoning agent's default now, would add 4 calls per episode)
    config = AgentConfig(kind="reasoning", max_turns=4, min_actions_before_answer=0)
    try:
        start = time.perf_counter()
        records = await arun_eval(items, lambda: make_agent("reasoning", engine, {}, config), out,
                                  RunOptions(k=1, concurrency=concurrency, progress=False, fsync=fsync))
        return time.perf_counter() - start, records
    finally:
        await engine.aclose()


async def _araw_ceiling(url: str, n: int, concurrency: int) -> float:
    """Requests per second of bare httpx posts at the same concurrency: what this machine and server
    allow at all, without the runner, the agent or the engine."""
    body = {"model": "canned", "messages": [{"role": "user", "content": "ping"}]}
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one() -> None:
            async with sem:
                (await client.post(url + "/v1/chat/completions", json=body)).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(n)])
        return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2, help="server delay per request, seconds")
    ap.add_argument("--no-fsync", action="store_true", help="do not fsync each result line")
    ap.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)  # child mode: the server's port
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.delay)
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--delay", str(args.delay)])
    try:
        _wait_ready(url)
        raw = asyncio.run(_araw_ceiling(url, args.questions, args.concurrency))
        with tempfile.TemporaryDirectory() as tmp:
            elapsed, records = asyncio.run(_arun(url, args.questions, args.concurrency, Path(tmp) / "r.jsonl",
                                                 not args.no_fsync))
    finally:
        server.terminate()
        server.wait()
    calls = sum(r["stats"]["turns"] for r in records)
    ideal = args.concurrency / args.delay
    rate = calls / elapsed
    em = summarize(records, 1)["bench"]["metrics"]["em"]["avg@1"]
    print(json.dumps({
        "questions": len(records), "llm_calls": calls, "concurrency": args.concurrency, "delay_s": args.delay,
        "fsync": not args.no_fsync, "elapsed_s": round(elapsed, 3), "calls_per_s": round(rate, 1),
        "ideal_calls_per_s": round(ideal, 1), "efficiency": round(rate / ideal, 3),
        "raw_httpx_calls_per_s": round(raw, 1), "vs_raw_httpx": round(rate / raw, 3), "em": em,
        "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
