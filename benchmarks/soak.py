"""Soak test of the retrieval server: 32 clients for 10 minutes, good and bad requests mixed.

    python benchmarks/soak.py                      # 10 minutes, 32-way, default corpus, docs updated
    python benchmarks/soak.py --minutes 1 --no-write   # a short check

`asearcher serve` runs in its own process over the embedded corpus's BM25 index (or `--index`) with
its pages. 32 asyncio workers send a mix: 60% good requests (single and multi-query searches,
page reads, hostile but valid query text such as `Mona_Lisa` or lone surrogates, the peers' shapes
such as `queries: []` or `topk: "3"`) and 40% bad ones (invalid JSON, wrong types, topk over the
limit, a 1,024 x topk-100 amplification request, a 2 MB body, a missing body, a wrong method),
each with the status it must get. Meanwhile `--slowloris` connections trickle header bytes. An
error is a transport failure or any status other than the expected one (every 5xx is one). Per
window: requests, errors, p50 / p99 latency of the good requests, and the server's RSS. Results go
to the "Soak" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval import DOC, ServerProcess, machine, sample_queries  # noqa: E402 - the sibling benchmark

JSON = {"content-type": "application/json"}


@dataclass
class Window:
    """What happened in one time window of the soak."""

    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    good_latencies_s: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # a few unexpected outcomes, for the report


def request_mix(queries: list[str], urls: list[str]) -> list[tuple[float, str, bool, object]]:
    """(weight, name, good, make) with make(rng) -> (method, path, body bytes or None, expected status)."""
    def post(path: str, body: object, status: int):
        return "POST", path, json.dumps(body).encode(), status

    hostile = ['Mona_Lisa', 'title:(Mona AND "Lisa") OR NOT [a TO z]', "\x00\u202e蒙娜丽莎", "x" * 20_000]
    return [
        (0.35, "search 1 query", True, lambda r: post("/retrieve", {"queries": [r.choice(queries)], "topk": 3}, 200)),
        (0.10, "search 8 queries", True,
         lambda r: post("/retrieve", {"queries": r.sample(queries, 8), "topk": 5, "return_scores": True}, 200)),
        (0.05, "access a page", True, lambda r: post("/access", {"urls": [r.choice(urls)]}, 200)),
        (0.05, "hostile query text", True, lambda r: post("/retrieve", {"queries": [r.choice(hostile)]}, 200)),
        (0.02, "lone surrogate", True,
         lambda r: ("POST", "/retrieve", b'{"queries": ["\\ud800 Mona"]}', 200)),
        (0.03, "peer shapes", True,
         lambda r: post("/retrieve", r.choice([{"queries": []}, {"queries": ["Paris"], "topk": "3", "model": "e5"},
                                                {"queries": ["Paris"], "topk": 0}]), 200)),
        (0.08, "invalid JSON", False, lambda r: ("POST", "/retrieve", b'{"queries": [', 400)),
        (0.10, "wrong types", False,
         lambda r: post("/retrieve", r.choice([{"queries": "text"}, {"queries": [5]}, {"queries": ["x"], "topk": -1}]),
                        422)),
        (0.06, "topk over the limit", False, lambda r: post("/retrieve", {"queries": ["x"], "topk": 1000}, 422)),
        (0.05, "amplification 1024 x 100", False,
         lambda r: post("/retrieve", {"queries": r.choices(queries, k=1024), "topk": 100}, 413)),
        (0.01, "2 MB body", False, lambda r: post("/retrieve", {"queries": ["x" * 2_000_000]}, 413)),
        (0.05, "missing body", False, lambda r: ("POST", "/retrieve", None, 400)),
        (0.05, "wrong method", False, lambda r: ("GET", "/retrieve", None, 405)),
    ]


async def _aworker(http: httpx.AsyncClient, mix: list, windows: list[Window], start: float, window_s: float,
                   end: float, seed: int) -> None:
    rng = random.Random(seed)
    weights = [w for w, *_ in mix]
    while time.monotonic() < end:
        _, name, good, make = rng.choices(mix, weights)[0]
        method, path, body, expected = make(rng)
        t0 = time.monotonic()
        try:
            response = await http.request(method, path, content=body, headers=JSON if body else None)
            status, outcome = response.status_code, response.status_code == expected
        except httpx.HTTPError as e:
            status, outcome = None, False
            name = f"{name}: {type(e).__name__}"
        latency = time.monotonic() - t0
        w = windows[min(int((t0 - start) / window_s), len(windows) - 1)]
        w.requests += 1
        if status is not None and status >= 500:
            w.server_errors += 1
        if not outcome:
            w.errors += 1
            if len(w.examples) < 5:
                w.examples.append(f"{name} -> {status} (expected {expected})")
        elif good:
            w.good_latencies_s.append(latency)


async def _aslowloris(url: str, n: int, end: float) -> int:
    """Hold `n` connections that send a header byte now and then; returns how many the server closed."""
    host, port = url.removeprefix("http://").split(":")
    closed = 0

    async def one() -> None:
        nonlocal closed
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                while time.monotonic() < end:
                    writer.write(b"X")
                    await writer.drain()
                    try:
                        await asyncio.wait_for(reader.read(1024), 1.0)  # a 408 or EOF: closed on us
                        break
                    except TimeoutError:
                        continue
                writer.close()
            except (ConnectionError, OSError):
                pass
            if time.monotonic() < end:
                closed += 1
            await asyncio.sleep(0.1)

    await asyncio.gather(*(one() for _ in range(n)))
    return closed


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def asoak(server: ServerProcess, queries: list[str], urls: list[str], args: argparse.Namespace) -> dict:
    """Run the soak against a ready server; per-window rows and totals."""
    duration_s = args.minutes * 60
    n_windows = max(1, min(10, round(duration_s / args.window_s)))
    window_s = duration_s / n_windows
    windows = [Window() for _ in range(n_windows)]
    rss: list[float] = [_rss_mib(server.proc.pid)]
    mix = request_mix(queries, urls)
    start = time.monotonic()
    end = start + duration_s

    async def sample_rss() -> None:
        for i in range(1, n_windows + 1):
            await asyncio.sleep(max(0.0, start + i * window_s - time.monotonic()))
            rss.append(_rss_mib(server.proc.pid))

    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        results = await asyncio.gather(
            *(_aworker(http, mix, windows, start, window_s, end, seed=i) for i in range(args.concurrency)),
            _aslowloris(server.url, args.slowloris, end), sample_rss())
    rows = []
    for i, w in enumerate(windows):
        lat = np.array(w.good_latencies_s or [float("nan")]) * 1000
        rows.append({"t_end_s": round((i + 1) * window_s), "requests": w.requests, "rps": w.requests / window_s,
                     "errors": w.errors, "server_errors": w.server_errors, "p50_ms": float(np.percentile(lat, 50)),
                     "p99_ms": float(np.percentile(lat, 99)), "rss_mib": rss[i + 1], "examples": w.examples})
    return {"rows": rows, "rss_start_mib": rss[0], "slowloris_closed": results[-2],
            "requests": sum(w.requests for w in windows), "errors": sum(w.errors for w in windows),
            "server_errors": sum(w.server_errors for w in windows),
            "mix": [{"name": name, "weight": weight, "good": good} for weight, name, good, _ in mix]}


def render(m: dict, result: dict, args: argparse.Namespace) -> str:
    """The Soak section of docs/benchmarks.md."""
    load = ", ".join(f"{x:.1f}" for x in m["loadavg"])
    bad = sum(x["weight"] for x in result["mix"] if not x["good"])
    lines = ["## Soak", "",
             f"Taken {m['date']} with `python benchmarks/soak.py --minutes {args.minutes:g}` on {m['cpu']}, "
             f"{m['cores']} cores (load average at start {load}; the CPU was shared with other work, so "
             "latencies are pessimistic). One `asearcher serve` process over the embedded corpus's BM25 "
             f"index with its pages; {args.concurrency} concurrent clients in one asyncio process on the same "
             f"machine; {bad:.0%} bad requests (see the script for the mix), plus {args.slowloris} slowloris "
             "connections. An error is a transport failure or a status other than the expected one. The "
             "point of the soak is errors and memory over time; its latencies include the load generator "
             "sharing the cores (throughput is measured in the Retrieval section).", "",
             f"Totals: {result['requests']:,} requests, {result['errors']} errors, {result['server_errors']} "
             f"replies with a 5xx; server RSS {result['rss_start_mib']:.0f} MiB at start, "
             f"{result['rows'][-1]['rss_mib']:.0f} MiB at the end; slowloris connections closed by the "
             f"server: {result['slowloris_closed']}.", "",
             "| minute | req/s | errors | 5xx | good p50 ms | good p99 ms | server RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['t_end_s'] / 60:.1f} | {r['rps']:.0f} | {r['errors']} | {r['server_errors']} "
                     f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rss_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def write_section(section_md: str, path: Path = DOC) -> None:
    """Replace (or add) the Soak section of docs/benchmarks.md, keeping the others."""
    text = path.read_text()
    pattern = re.compile(r"^## Soak\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section_md.rstrip() + "\n\n", text, count=1) if pattern.search(text) \
        else text.rstrip() + "\n\n" + section_md
    path.write_text(text.rstrip() + "\n")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    p.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--slowloris", type=int, default=16, help="slow-header connections held meanwhile (default 16)")
    p.add_argument("--window-s", type=float, default=60.0, help="reporting window in seconds (at most 10 windows)")
    p.add_argument("--index", type=Path, default=None, help="BM25 index folder (default: the embedded corpus's)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.concurrency < 1 or args.slowloris < 0:
        p.error("--minutes must be > 0, --concurrency >= 1, --slowloris >= 0")
    from asearcher.retrieval import ensure_default_index, read_meta

    index_dir = args.index or ensure_default_index("bm25")
    meta = read_meta(index_dir)
    queries = sample_queries(Path(meta["corpus"]), k=2000)
    with Path(meta["pages"]).open() as f:
        urls = [json.loads(line)["url"] for line in itertools.islice(f, 2000)]
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(index_dir, pages=True, log_path=Path(tmp) / "server.log")
        try:
            server.wait_ready()
            result = asyncio.run(asoak(server, queries, urls, args))
        finally:
            server.stop()
    m = machine()
    result["machine"] = m
    section = render(m, result, args)
    print(section)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if not args.no_write:
        write_section(section)
        print(f"wrote {DOC}")
    return result


if __name__ == "__main__":
    main()
