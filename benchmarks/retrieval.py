"""Retrieval server benchmark: single-query /retrieve throughput and latency over real HTTP.

    python benchmarks/retrieval.py                        # default corpus, BM25 + dense, c = 1, 8, 32
    python benchmarks/retrieval.py --million 1000000      # also a 1M-passage synthetic corpus (BM25)
    python benchmarks/retrieval.py --kinds bm25 --duration 3 --no-write   # a quick check
    python benchmarks/retrieval.py --workers 1 2 --concurrency 32         # 1 vs 2 server processes

The server runs in its own process (`asearcher serve`); the load comes from `wrk` (C, one thread,
cheap enough not to starve a 2-core server; install it with `apt-get install wrk`) or, when wrk is
missing, from a lean asyncio + httpx generator in a separate process. Results go to the "Retrieval"
section of docs/benchmarks.md; the "Machine" section describes the host and its load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_WORD = re.compile(r"[A-Za-z]+")


def sample_queries(passages_jsonl: Path, k: int = 1000, seed: int = 0, scan: int = 50_000) -> list[str]:
    """`k` queries of 3-8 consecutive words from random passages (the first `scan` lines)."""
    rng = random.Random(seed)
    texts = []
    with passages_jsonl.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= scan:
                break
            rec = json.loads(line)
            texts.append(rec.get("text") or rec.get("contents") or "")
    out: list[str] = []
    while len(out) < k:
        words = _WORD.findall(rng.choice(texts))
        if len(words) >= 3:
            j = rng.randrange(0, max(1, len(words) - 8))
            out.append(" ".join(words[j : j + rng.randint(3, 8)]))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`asearcher serve` in a subprocess (`workers` processes), ready once its address file exists:
    the server writes it when every worker has loaded the index. `pages`: serve /access too;
    `log_path`: its stderr goes to that file instead of a pipe (long runs: a pipe would fill up)."""

    SERVE = [sys.executable, "-m", "asearcher.cli", "serve"]

    def __init__(self, index_dir: Path, extra: list[str] | None = None, workers: int = 1, pages: bool = False,
                 log_path: Path | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.addr_dir = Path(tempfile.mkdtemp(prefix="asearcher-bench-addr-"))
        self.log_path = log_path
        self.log = log_path.open("wb") if log_path else None
        cmd = [*self.SERVE, "--index", str(index_dir), *([] if pages else ["--no-pages"]), "--port", str(self.port),
               "--workers", str(workers), "--save-address-to", str(self.addr_dir), *(extra or [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log or subprocess.PIPE)

    def wait_ready(self, timeout_s: float = 300) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.error_tail()}")
            if list(self.addr_dir.glob("Host*_IP*.txt")):
                return httpx.get(f"{self.url}/health", timeout=10).json()
            time.sleep(0.2)
        raise TimeoutError(f"server at {self.url} not ready after {timeout_s} s")

    def error_tail(self) -> str:
        """The end of the server's stderr (once it has exited)."""
        if self.log is not None:
            self.log.flush()
            return self.log_path.read_bytes().decode(errors="replace")[-2000:]
        return self.proc.stderr.read().decode()[-2000:]

    def serving_pids(self) -> list[int]:
        """The processes answering requests: the server itself, or its spawned workers."""
        kids = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid \
                        and b"spawn_main" in (d / "cmdline").read_bytes():
                    kids.append(int(d.name))
            except OSError:
                continue
        return sorted(kids) or [self.proc.pid]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.addr_dir, ignore_errors=True)
        if self.log is not None:
            self.log.close()


_WRK_LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/retrieve", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %%d, "duration_s": %%f, "p50_ms": %%f, "p99_ms": %%f, ' ..
    '"errors": %%d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def _bodies(queries: list[str], topk: int) -> list[str]:
    return [json.dumps({"queries": [q], "topk": topk}) for q in queries]


def run_wrk(url: str, bodies: list[str], concurrency: int, duration_s: float, workdir: Path) -> dict:
    """One wrk run (1 thread, `concurrency` connections); its numbers as a dict."""
    # Long brackets need no escaping; the bodies hold only words, quotes and braces.
    script = workdir / "retrieve.lua"
    script.write_text(_WRK_LUA % ",".join(f"[==[{b}]==]" for b in bodies))
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    stats = json.loads(line[len("WRK_JSON "):])
    stats["rps"] = stats["requests"] / stats["duration_s"]
    return stats


async def _aloadgen(url: str, bodies: list[str], concurrency: int, duration_s: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                i = (i + 1) % len(bodies)
                t0 = time.perf_counter()
                r = await client.post("/retrieve", content=bodies[i], headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker(k * 97) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "duration_s": elapsed, "rps": len(lat) / elapsed, "errors": errors,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


def run_python_loadgen(url: str, bodies: list[str], concurrency: int, duration_s: float, workdir: Path) -> dict:
    """The asyncio + httpx generator, in its own process so it does not share the GIL with us."""
    path = workdir / "bodies.json"
    path.write_text(json.dumps(bodies))
    cmd = [sys.executable, __file__, "--loadgen-worker", url, str(path), str(concurrency), str(duration_s)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_mib(pids: list[int]) -> dict:
    """Rss, Pss and private memory (MiB) summed over `pids`, from /proc/<pid>/smaps_rollup: with the
    index memory-mapped, N workers' Pss stays near one worker's Rss plus their private parts."""
    total = {"Rss": 0, "Pss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in total:
                total[key] += int(rest.split()[0])
    return {"rss_mib": total["Rss"] / 1024, "pss_mib": total["Pss"] / 1024,
            "private_mib": (total["Private_Clean"] + total["Private_Dirty"]) / 1024}


def drive(server: ServerProcess, queries: list[str], concurrencies: list[int], duration_s: float,
          loadgen: str, workdir: Path, topk: int = 3) -> list[dict]:
    """Warm up, then one run per concurrency; adds the server's mean batch size per run."""
    bodies = _bodies(queries, topk)
    run = run_wrk if loadgen == "wrk" else run_python_loadgen
    run(server.url, bodies, 4, min(2.0, duration_s), workdir)  # warm-up: caches, lazy imports
    rows = []
    for c in concurrencies:
        # /health counts one worker's batches: with several workers the mean batch is not known.
        one = len(server.serving_pids()) == 1
        before = httpx.get(f"{server.url}/health").json()["batches"]
        stats = run(server.url, bodies, c, duration_s, workdir)
        after = httpx.get(f"{server.url}/health").json()["batches"]
        n_batches = after["batches"] - before["batches"]
        stats["mean_batch"] = ((after["queries"] - before["queries"]) / n_batches if n_batches else 0.0) if one else None
        stats["concurrency"] = c
        rows.append(stats)
        print(f"  c={c:>3}: {stats['rps']:7.1f} req/s  p50 {stats['p50_ms']:6.2f} ms  p99 {stats['p99_ms']:7.2f} ms"
              f"  mean batch {_batch(stats['mean_batch'])}  errors {stats['errors']}", flush=True)
    return rows


def measure_build(corpus: Path, out_dir: Path, kind: str) -> dict:
    """Build an index in a child process; wall time and that child's own peak RSS (os.wait4)."""
    code = ("import sys; from pathlib import Path; from asearcher.retrieval import build_index; "
            "build_index(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(corpus), str(out_dir), kind])
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"index build failed with exit code {proc.returncode}")
    return {"build_s": seconds, "peak_rss_gib": usage.ru_maxrss * 1024 / 2**30}  # ru_maxrss is KiB on Linux


def machine() -> dict:
    """What the numbers were taken on, including how busy the machine was."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "torch": torch.__version__, "os": platform.platform(),
            "loadavg": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}


def _batch(mean: float | None) -> str:
    return "-" if mean is None else f"{mean:.1f}"


def _rows_table(rows: list[dict]) -> list[str]:
    out = ["| index | concurrency | req/s | p50 ms | p99 ms | mean batch | errors |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['index']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                   f"| {_batch(r['mean_batch'])} | {r['errors']} |")
    return out


def render(m: dict, rows: list[dict], million: dict | None, args: argparse.Namespace, loadgen: str) -> tuple[str, str]:
    """The Machine and Retrieval sections of docs/benchmarks.md."""
    load = ", ".join(f"{x:.1f}" for x in m["loadavg"])
    machine_md = (f"## Machine\n\n- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gib']} GiB; no GPU\n"
                  f"- {m['os']}; Python {m['python']}; torch {m['torch']}\n"
                  f"- Load average (1, 5, 15 min) when the retrieval run started: {load}. A load near or above "
                  "the core count means other work shared the CPU and the numbers below are pessimistic.\n")
    cmd = "python benchmarks/retrieval.py" + (f" --million {args.million}" if args.million else "")
    lines = ["## Retrieval", "",
             f"Taken {m['date']} with `{cmd}` (load generator: {loadgen}, {args.duration:g} s per run, "
             "single-query POST /retrieve, top-3, one uvicorn process, micro-batching on). "
             f"Load average at start: {load}.", "",
             "Targets (2 cores, quiet machine): BM25 >= 400 req/s at concurrency 32 with p99 < 100 ms; "
             "dense Flat >= 300 req/s at concurrency 32 with p99 <= 150 ms; 1M passages: BM25 p50 < 50 ms, "
             "index build within 4 GiB RSS.", "",
             "Default corpus (embedded Wikipedia leads):", "", *_rows_table(rows), ""]
    if million:
        lines += [f"Synthetic corpus of {million['passages']:,} passages (~100 words each, words drawn from the default "
                  "corpus's vocabulary, Zipf law):", "",
                  f"- BM25 index build: {million['build_s']:.0f} s, peak RSS {million['peak_rss_gib']:.2f} GiB "
                  "(the build process's own, from wait4)", "", *_rows_table(million["rows"]), ""]
    if m["loadavg"][0] >= (m["cores"] or 1) * 0.75:
        lines += ["**Measured on a loaded machine** (see the load average): rerun the command above on a quiet "
                  "machine for representative numbers.", ""]
    return machine_md, "\n".join(lines)


def write_section(heading: str, body: str, path: Path = DOC) -> None:
    """Replace (or add) one `## ` section of docs/benchmarks.md, keeping the others."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured numbers, with the commands that reproduce them.\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: body.rstrip() + "\n\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + body.rstrip() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")


def write_doc(machine_md: str, retrieval_md: str, path: Path = DOC) -> None:
    """Replace (or add) the Machine and Retrieval sections, keeping the other benchmarks' sections."""
    write_section("## Machine", machine_md, path)
    write_section("## Retrieval", retrieval_md, path)


def bench_default(kinds: list[str], args: argparse.Namespace, loadgen: str, workdir: Path) -> list[dict]:
    from asearcher.corpus import ensure_default_corpus
    from asearcher.retrieval import ensure_default_index

    queries = sample_queries(ensure_default_corpus().passages)
    rows = []
    for kind in kinds:
        index_dir = ensure_default_index(kind)
        print(f"{kind}: {index_dir}", flush=True)
        server = ServerProcess(index_dir)
        try:
            server.wait_ready()
            for r in drive(server, queries, args.concurrency, args.duration, loadgen, workdir):
                rows.append({"index": f"{kind}" + (" (MiniLM, Flat)" if kind == "dense" else ""), **r})
        finally:
            server.stop()
    return rows


def bench_million(n: int, args: argparse.Namespace, loadgen: str, workdir: Path) -> dict:
    from asearcher.corpus import ensure_default_corpus
    from asearcher.retrieval.engine_benchmark import write_synthetic  # helper B's generator

    corpus = args.synthetic_corpus or workdir / f"synthetic-{n}.jsonl"
    if not corpus.exists():
        print(f"writing {n:,} synthetic passages to {corpus}", flush=True)
        write_synthetic(ensure_default_corpus().passages, n, corpus)
    index_dir = workdir / f"synthetic-{n}-bm25"
    shutil.rmtree(index_dir, ignore_errors=True)
    print(f"building the BM25 index of {corpus} (one child process)", flush=True)
    built = measure_build(corpus, index_dir, "bm25")
    print(f"  built in {built['build_s']:.0f} s, peak RSS {built['peak_rss_gib']:.2f} GiB", flush=True)
    server = ServerProcess(index_dir)
    try:
        server.wait_ready()
        rows = drive(server, sample_queries(corpus), [1, 32], args.duration, loadgen, workdir)
    finally:
        server.stop()
    return {"passages": n, **built, "rows": [{"index": f"bm25, {n:,} synthetic", **r} for r in rows]}


def bench_workers(kinds: list[str], workers: list[int], args: argparse.Namespace, loadgen: str,
                  workdir: Path) -> list[dict]:
    """Each index served by 1, 2, ... worker processes at the given concurrencies, with the workers'
    memory (smaps_rollup) after the load: the multi-process rows of docs/benchmarks.md."""
    from asearcher.corpus import ensure_default_corpus
    from asearcher.retrieval import ensure_default_index

    queries = sample_queries(ensure_default_corpus().passages)
    rows = []
    for kind in kinds:
        index_dir = ensure_default_index(kind)
        for n in workers:
            print(f"{kind}, {n} worker(s): {index_dir}", flush=True)
            server = ServerProcess(index_dir, workers=n)
            try:
                server.wait_ready()
                runs = drive(server, queries, args.concurrency, args.duration, loadgen, workdir)
                mem = memory_mib(sorted({server.proc.pid, *server.serving_pids()}))  # the supervisor counts too
            finally:
                server.stop()
            print(f"  memory of the workers: Rss {mem['rss_mib']:.0f} MiB, Pss {mem['pss_mib']:.0f} MiB, "
                  f"private {mem['private_mib']:.0f} MiB", flush=True)
            rows += [{"index": kind, "workers": n, **mem, **r} for r in runs]
    return rows


def render_workers(m: dict, rows: list[dict], args: argparse.Namespace, loadgen: str) -> str:
    """The "Retrieval, several processes" section of docs/benchmarks.md."""
    load = ", ".join(f"{x:.1f}" for x in m["loadavg"])
    cmd = (f"python benchmarks/retrieval.py --workers {' '.join(map(str, args.workers))} --kinds {' '.join(args.kinds)} "
           f"--concurrency {' '.join(map(str, args.concurrency))}")
    lines = ["## Retrieval, several processes", "",
             f"Taken {m['date']} on {m['cpu']} ({m['cores']} cores) with `{cmd}` (load generator: {loadgen}, "
             f"{args.duration:g} s per run, single-query POST /retrieve, top-3; `asearcher serve --workers N`). "
             f"Load average at start: {load}. Memory is summed after the load over the worker processes "
             "of the server and, with N > 1, its supervisor (/proc/<pid>/smaps_rollup): the index is memory-mapped, "
             "so Pss grows by a worker's private part, not by another copy of the index.", "",
             "| index | workers | concurrency | req/s | p50 ms | p99 ms | errors | Rss MiB | Pss MiB | private MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['index']} | {r['workers']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50_ms']:.1f} "
                     f"| {r['p99_ms']:.1f} | {r['errors']} | {r['rss_mib']:.0f} | {r['pss_mib']:.0f} "
                     f"| {r['private_mib']:.0f} |")
    if m["loadavg"][0] >= (m["cores"] or 1) * 0.75:
        lines += ["", "**Measured on a loaded machine** (see the load average): rerun the command above on a quiet "
                  "machine for representative numbers."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=["bm25", "dense"], choices=["bm25", "dense", "hybrid"])
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    ap.add_argument("--million", type=int, default=0, help="also benchmark a synthetic corpus of N passages (BM25)")
    ap.add_argument("--synthetic-corpus", type=Path, default=None, help="reuse this synthetic passages .jsonl")
    ap.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--workdir", type=Path, default=None, help="where synthetic corpora and indexes go")
    ap.add_argument("--workers", nargs="+", type=int, default=None, metavar="N",
                    help="instead of the default rows, serve each kind with N worker processes for each N given "
                    "(e.g. --workers 1 2 --concurrency 32) and write the multi-process section")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
        if loadgen == "python":
            print("wrk not found (apt-get install wrk): using the slower asyncio+httpx load generator", flush=True)
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores, load average {m['loadavg']}", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="asearcher-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.workers:
        section = render_workers(m, bench_workers(args.kinds, args.workers, args, loadgen, workdir), args, loadgen)
        print("\n" + section)
        if not args.no_write:
            write_section("## Retrieval, several processes", section)
            print(f"wrote {DOC}")
        return 0
    rows = bench_default(args.kinds, args, loadgen, workdir)
    million = bench_million(args.million, args, loadgen, workdir) if args.million else None
    machine_md, retrieval_md = render(m, rows, million, args, loadgen)
    print("\n" + retrieval_md)
    if not args.no_write:
        write_doc(machine_md, retrieval_md)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--loadgen-worker":
        _, _, url, bodies_path, conc, dur = sys.argv
        result = asyncio.run(_aloadgen(url, json.loads(Path(bodies_path).read_text()), int(conc), float(dur)))
        print(json.dumps(result))
        sys.exit(0)
    sys.exit(main())
