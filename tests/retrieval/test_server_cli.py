"""`asearcher serve` as a user runs it: a subprocess on a loopback port, and its error messages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from asearcher.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_retrieve_and_access_from_an_index_dir(bm25_index_dir: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "asearcher.cli", "serve", "--index", str(bm25_index_dir),
                             "--port", str(port), "max_batch=16"],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("asearcher serve never became healthy")
        (hits,) = httpx.post(f"{url}/retrieve", json={"queries": ["Leonardo da Vinci painting"]}).json()["result"]
        assert len(hits) == 3 and all(h["url"].startswith("https://en.wikipedia.org/wiki/") for h in hits)
        # /access comes from the pages file the index's meta.json records.
        (page,) = httpx.post(f"{url}/access", json={"urls": [hits[0]["url"]]}).json()["result"]
        assert page["title"] == hits[0]["title"] and page["contents"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_reports_a_missing_index_dir_and_bad_settings(tmp_path: Path, capsys) -> None:
    assert main(["serve", "--index", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["serve", "--index", str(tmp_path), "max_topk=0"]) == 2
    assert "max_topk" in capsys.readouterr().err
    assert main(["serve", "--index", str(tmp_path), "max_batchh=3"]) == 2
    assert "max_batchh" in capsys.readouterr().err


def test_serve_announces_itself_in_an_address_folder_and_withdraws_on_shutdown(bm25_index_dir: Path,
                                                                               tmp_path: Path) -> None:
    addr_dir = tmp_path / "rag_addrs"
    proc = subprocess.Popen([sys.executable, "-m", "asearcher.cli", "serve", "--index", str(bm25_index_dir),
                             "--port", "0", "--save-address-to", str(addr_dir)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(addr_dir.glob("Host*_IP*.txt")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no address file appeared"
            time.sleep(0.1)
        (path,) = addr_dir.glob("Host*_IP*.txt")
        address = path.read_text()
        host, port = address.split(":")
        assert path.name == f"Host{host}_IP{port}.txt" and host == "127.0.0.1"  # serve binds 127.0.0.1 by default
        # Written once the index is loaded: the first request through it is answered at once.
        assert httpx.get(f"http://{address}/health").status_code == 200
        r = httpx.post(f"http://{address}/retrieve", json={"queries": ["Leonardo da Vinci painting"], "topk": "2"})
        assert len(r.json()["result"][0]) == 2
    finally:
        proc.terminate()
        proc.wait(15)
    assert not list(addr_dir.glob("Host*_IP*.txt"))
