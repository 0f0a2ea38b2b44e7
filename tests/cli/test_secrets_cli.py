"""No credential given in a URL reaches any file or terminal output of `asearcher eval` or `ask`.

Canary secrets go in the judge URL (user:password@host), the model URL (an api_key query parameter)
and the retriever URL (user:password@host, a port nobody listens on, so its errors quote the URL).
The model and judge servers are local fakes (`http_fakes`, standing in for remote LLM servers); each
fails its first request with a 500 so that the retry path logs its URL too. Debug logging is on.
Every file written under the test's folder (run files, reports, plots, caches) and stdout/stderr are
searched for each canary.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from http_fakes import FakeServer, closed_port_url

CANARIES = ("CANARYJUDGEPW", "CANARYMODELKEY", "CANARYRETRIEVERPW")


def flaky(answer):
    """A model server: 500 on the first completion request, then `answer(body)`."""
    calls = {"n": 0}

    def respond(method, path, body, headers):
        if path.startswith("/v1/models"):
            return 200, {"data": [{"id": "fake-model"}]}
        if path.startswith("/props"):
            return 404, {}
        calls["n"] += 1
        if calls["n"] == 1:
            return 500, {"error": {"message": "temporarily overloaded"}}
        text = answer(body)
        return 200, {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    return respond


def model_reply(body):
    prompt = json.dumps(body.get("messages"))
    return "<answer>Paris</answer>" if "unavailable" in prompt else "<search>capital of France</search>"


def leaks(root: Path, *texts: str) -> list[str]:
    found = [f"output {i}" for i, t in enumerate(texts) for c in CANARIES if c in t]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path} holds {c}" for c in CANARIES if c.encode() in data]
    return found


def run_cli(tmp_path, *argv):
    env = {**os.environ, "ASEARCHER_HOME": str(tmp_path / "home"), "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "asearcher.cli", "-v", *argv], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)


def urls(model, judge):
    retriever = closed_port_url().replace("http://", "http://reader:CANARYRETRIEVERPW@")
    return (f"{model.url}/v1?api_key=CANARYMODELKEY", judge.url.replace("http://", "http://bob:CANARYJUDGEPW@") + "/v1",
            retriever)


def test_eval_writes_and_prints_no_credential(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"id": "q1", "question": "Capital of France?", "golden_answers": ["Paris"]}) + "\n")
    with FakeServer(flaky(model_reply)) as model, FakeServer(flaky(lambda body: "Verdict: correct")) as judge:
        model_url, judge_url, retriever_url = urls(model, judge)
        proc = run_cli(tmp_path, "eval", "--data", str(data), "--agent", "reasoning", "--model", model_url,
                       "--retriever", retriever_url, "--judge", judge_url, "--out", str(tmp_path / "out"),
                       "--no-progress", "engine.retry_backoff_s=0.01", "agent.max_turns=3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The credentials were used: the key went with every model request, the password to the judge.
    assert all("api_key=CANARYMODELKEY" in seen["path"] for seen in model.seen if "completions" in seen["path"])
    assert any(seen["headers"].get("authorization", "").startswith("Basic ") for seen in judge.seen)
    # ... and the paths that could leak them ran: retries logged, the retriever's error reached a record.
    assert "retry 1/" in proc.stderr and "POST http://***@" in proc.stderr
    results = (tmp_path / "out" / "results.jsonl").read_text()
    assert "http://reader:***@" not in results and "http://***@127.0.0.1" in results
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["meta"]["judge"].startswith("http://***@")
    assert leaks(tmp_path, proc.stdout, proc.stderr) == []


def test_ask_prints_and_saves_no_credential(tmp_path):
    with FakeServer(flaky(model_reply)) as model, FakeServer(flaky(lambda body: "")) as judge:
        model_url, _, retriever_url = urls(model, judge)
        proc = run_cli(tmp_path, "ask", "Capital of France?", "--agent", "reasoning", "--model", model_url,
                       "--retriever", retriever_url, "--json", str(tmp_path / "t.json"),
                       "engine.retry_backoff_s=0.01", "max_turns=3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tool error" in proc.stdout  # the retriever's error, quoting its URL, was printed (redacted)
    assert leaks(tmp_path, proc.stdout, proc.stderr) == []


def test_a_refused_flag_quoting_a_credential_is_redacted(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"id": "q1", "question": "Capital of France?", "golden_answers": ["Paris"]}) + "\n")
    proc = run_cli(tmp_path, "eval", "--data", str(data), "--model", "http://bob:CANARYMODELKEY@/v1",
                   "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "'http://***@/v1': the URL has no host" in proc.stderr
    assert leaks(tmp_path, proc.stdout, proc.stderr) == []
