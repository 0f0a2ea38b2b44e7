"""`asearcher eval` end to end.

The fast test points the policy and the judge at the benchmark's fixed-delay OpenAI-compatible
server (a canned-reply HTTP server standing in for a remote LLM, which cannot run here), so the
whole CLI path runs: loading, engines over HTTP, tools on the embedded index, runner, judge, report.
"""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from asearcher.cli import main

ROOT = Path(__file__).parents[2]
FIX = ROOT / "tests" / "fixtures" / "eval"


@pytest.fixture
def canned_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "eval_throughput.py"),
                             "--serve", str(port), "--delay", "0.01"])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def test_eval_cli_with_judge_and_resume_guard(canned_server, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["eval", "--data", str(FIX / "gaia.json"), "--agent", "reasoning", "--model", canned_server,
            "--k", "2", "--judge", canned_server, "--judge-model", "canned", "--out", str(out), "--no-progress",
            "engine.logprobs=false", "agent.max_turns=3"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())["datasets"]["gaia"]
    # the server always answers "Paris": wrong for both GAIA fixture questions, but the judge says correct
    assert summary["metrics"]["em"]["avg@2"] == 0.0
    assert summary["metrics"]["judge"]["avg@2"] == 1.0
    assert summary["samples"] == 4
    for name in ("results.jsonl", "summary.md", "run.json", "config.yaml", "accuracy_vs_turns.png"):
        assert (out / name).is_file()
    assert "## gaia" in capsys.readouterr().out
    assert main(argv) == 0  # resume of a finished run: nothing new
    assert len((out / "results.jsonl").read_text().splitlines()) == 4
    # resuming into the folder with another agent is refused, naming the difference
    bad = [a if a != "reasoning" else "fc" for a in argv]
    assert main(bad) == 2
    assert "agent: 'reasoning' -> 'fc'" in capsys.readouterr().err


def test_eval_cli_rejects_bad_flags(tmp_path, capsys):
    assert main(["eval", "--k", "0", "--out", str(tmp_path)]) == 2
    assert "--k" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]) == 2
    assert "not a known benchmark" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_cli_embedded_default(tmp_path):
    """The defaults: embedded model, embedded corpus and its qa_test.jsonl (minutes on a shared CPU)."""
    out = tmp_path / "emb"
    argv = ["eval", "--limit", "3", "--k", "1", "--out", str(out), "--no-progress",
            "agent.max_turns=3", "agent.max_new_tokens_per_turn=96", "agent.max_context_tokens=3072"]
    assert main(argv) == 0
    data = json.loads((out / "summary.json").read_text())
    (ds,) = data["datasets"].values()
    assert ds["questions"] == 3 and ds["samples"] == 3
    for name in ("summary.md", "accuracy_vs_turns.png", "tool_calls.png", "gen_tokens.png"):
        assert (out / name).stat().st_size > 0
