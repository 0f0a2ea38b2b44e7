"""`asearcher serve --workers N`: several processes on one port, one memory-mapped index between them.

Real subprocesses over loopback HTTP; what is checked is what a user relies on: the same answers as
one process, every worker taking requests, the address file written once all are ready and removed
at shutdown, a crashed worker reported and replaced, no process left behind, and the index in
memory once (from /proc/<pid>/smaps: the index file's pages are shared, not private, in each worker).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_runner import ServerThread

QUERIES = ["Leonardo da Vinci painting", "river in Africa", "quantum mechanics", "Olympic games 1936", "the"]


class _Serve:
    """`asearcher serve --workers N --save-address-to DIR` in a subprocess, ready once its address file exists."""

    def __init__(self, index_dir: Path, workers: int, addr_dir: Path, *extra: str) -> None:
        self.addr_dir = addr_dir
        self.log = addr_dir.parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log_f = self.log.open("wb")
        cmd = [sys.executable, "-m", "asearcher.cli", "serve", "--index", str(index_dir), "--no-pages",
               "--port", "0", "--workers", str(workers), "--save-address-to", str(addr_dir), *extra]
        self.proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=self._log_f)

    def wait_ready(self, timeout_s: float = 180) -> str:
        deadline = time.monotonic() + timeout_s
        while not list(self.addr_dir.glob("Host*_IP*.txt")):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"no address file after {timeout_s} s:\n{self.log.read_text()}"
            time.sleep(0.1)
        (path,) = self.addr_dir.glob("Host*_IP*.txt")
        return f"http://{path.read_text()}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log_f.close()


def _children(pid: int) -> set[int]:
    """Live child processes of `pid` (from /proc; zombies count as gone)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[1]) == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pids_answering(url: str, requests: int = 200) -> set[int]:
    """Pids of ready workers seen over `requests` /health calls on fresh connections, 16 at a time
    (a replacement worker still loading its index answers 503, without a pid)."""
    def one(_: int) -> int | None:
        r = httpx.get(f"{url}/health", timeout=30)
        return r.json()["pid"] if r.status_code == 200 else None

    with ThreadPoolExecutor(16) as pool:
        return set(pool.map(one, range(requests))) - {None}


def _until_two_pids(url: str, rounds: int = 10, requests: int = 200) -> set[int]:
    # The kernel hands a connection to whichever worker accepts first; a burst of concurrent fresh
    # connections reaches both within a few rounds.
    seen: set[int] = set()
    for _ in range(rounds):
        seen |= _pids_answering(url, requests)
        if len(seen) >= 2:
            break
    return seen


def _stopped_cleanly(server: _Serve, workers: set[int]) -> None:
    """SIGTERM the server: exit 0, address file gone, no worker (or helper process) left."""
    assert server.stop() == 0, server.log.read_text()
    assert not list(server.addr_dir.glob("Host*_IP*.txt"))
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]


def _crash_is_reported_and_replaced(server: _Serve, url: str, victim: int, others: set[int]) -> set[int]:
    """SIGKILL `victim`: the log names it, a new worker serves beside `others`; returns the pids seen."""
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while f"worker {victim} stopped (killed by SIGKILL)" not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)
    while True:
        seen = _until_two_pids(url, rounds=1, requests=48)  # light polling: the replacement is loading
        if len(seen - others - {victim}) == 1:
            return seen
        assert time.monotonic() < deadline, (seen, server.log.read_text())
        time.sleep(2)


def test_two_workers_answer_as_one_use_both_and_leave_nothing(bm25_index_dir: Path, tmp_path: Path) -> None:
    with ServerThread(create_app(bm25_index_dir)) as one_url:
        expected = [httpx.post(f"{one_url}/retrieve", json={"queries": [q], "topk": 5}).json() for q in QUERIES]
    server = _Serve(bm25_index_dir, 2, tmp_path / "addrs")
    workers: set[int] = set()
    try:
        url = server.wait_ready()
        workers = _children(server.proc.pid)
        got = [httpx.post(f"{url}/retrieve", json={"queries": [q], "topk": 5}).json() for q in QUERIES]
        assert got == expected
        answering = _until_two_pids(url)
        assert len(answering) == 2 and answering <= workers, (answering, workers)
    finally:
        _stopped_cleanly(server, workers)


def test_a_worker_that_cannot_start_stops_the_server_with_the_reason(bm25_index_dir: Path, tmp_path: Path) -> None:
    pages = tmp_path / "pages.jsonl"
    pages.write_text('{"url": "https://en.wikipedia.org/wiki/A", "title": "A", "text": "x"}\nnot json\n')
    cmd = [sys.executable, "-m", "asearcher.cli", "serve", "--index", str(bm25_index_dir), "--pages", str(pages),
           "--port", "0", "--workers", "2", "--save-address-to", str(tmp_path / "addrs")]
    # Every worker would fail the same way: no restart loop, one clear error and exit code 2.
    done = subprocess.run(cmd, env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{pages}:2" in done.stderr and "a server worker failed to start" in done.stderr
    assert "starting a replacement" not in done.stderr
    assert not list((tmp_path / "addrs").glob("Host*_IP*.txt"))


def test_serve_rejects_zero_workers(bm25_index_dir: Path, capsys) -> None:
    from asearcher.cli import main

    assert main(["serve", "--index", str(bm25_index_dir), "--workers", "0"]) == 2
    assert "workers" in capsys.readouterr().err


def _mapping(pid: int, path: Path) -> dict[str, int]:
    """smaps fields (kB) summed over the mappings of `path` in process `pid`."""
    totals: dict[str, int] = {}
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            inside = len(head) >= 6 and head[5] == str(path)
        elif inside and head and head[0].endswith(":") and len(head) == 3 and head[2] == "kB":
            totals[head[0][:-1]] = totals.get(head[0][:-1], 0) + int(head[1])
    return totals


@pytest.fixture(scope="module")
def synthetic_dense_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense Flat index of 4,000 random unit 384-d vectors (6 MB) over short synthetic passages,
    made with `index import` (the vectors need no encoder; queries use the embedded MiniLM)."""
    import faiss

    from asearcher.retrieval import IndexConfig
    from asearcher.retrieval.import_index import import_faiss_index

    d = tmp_path_factory.mktemp("synthetic_dense")
    n, dim = 4000, 384
    with (d / "corpus.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": str(i), "contents": f'"Passage {i}"\nsynthetic text number {i}'}) + "\n")
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    faiss.write_index(index, str(d / "flat.index"))
    import_faiss_index(d / "flat.index", d / "corpus.jsonl", d / "index", IndexConfig(kind="dense"))
    return d / "index"


@pytest.mark.slow  # three processes in turn load torch and MiniLM: 1-2.5 min on 2 busy cores
def test_two_dense_workers_share_the_index_pages_and_a_crashed_one_is_replaced(synthetic_dense_dir: Path, tmp_path: Path) -> None:
    faiss_file = (synthetic_dense_dir / "dense.faiss").resolve()
    size_kb = faiss_file.stat().st_size // 1024
    server = _Serve(synthetic_dense_dir, 2, tmp_path / "addrs")
    pids: set[int] = set()
    try:
        url = server.wait_ready()
        pids = _children(server.proc.pid)
        (hits,) = httpx.post(f"{url}/retrieve", json={"queries": ["synthetic text"], "topk": 3}).json()["result"]
        assert len(hits) == 3
        workers = sorted(pids & _until_two_pids(url))
        assert len(workers) == 2
        for pid in workers:
            m = _mapping(pid, faiss_file)
            # Each worker warmed up with a Flat search, which reads every vector: the whole file is
            # resident in both, as pages shared between them, none private (no copy per process).
            assert m.get("Rss", 0) >= 0.9 * size_kb, (pid, m, size_kb)
            # Shared_Dirty too: a file written moments ago may still be dirty in the page cache.
            assert m["Shared_Clean"] + m["Shared_Dirty"] >= 0.9 * size_kb, (pid, m)
            assert m["Private_Clean"] + m["Private_Dirty"] <= 0.05 * size_kb, (pid, m)
            assert m["Pss"] <= 0.6 * size_kb, (pid, m)  # half of it is charged to each of the two
            assert _mapping(pid, (synthetic_dense_dir / "passages.jsonl").resolve()), "passage store not mapped"
        # A worker that dies is reported and replaced; the address file stays the one written at start.
        seen = _crash_is_reported_and_replaced(server, url, workers[0], {workers[1]})
        assert len(list(server.addr_dir.glob("Host*_IP*.txt"))) == 1
        pids |= seen | _children(server.proc.pid)
    finally:
        _stopped_cleanly(server, pids)
