"""`asearcher eval` and `asearcher ask` finish with a summary (resp. a typed stop) when the world fails:
the retriever down or answering 500, the model server refusing for context length.

The model and retrieval servers are local fakes (`http_fakes`) standing in for external servers; the
CLI, engines, agents, tools and runner are the real ones. The embedded-model run is the slow test.
"""

import json
import subprocess
import sys

import pytest
from http_fakes import LLAMACPP_OVERFLOW, FakeServer, closed_port_url, fixed, openai_model

from asearcher.cli import main

QUESTIONS = [("q1", "Who painted the Mona Lisa?", "Leonardo da Vinci"),
             ("q2", "What is the capital of France?", "Paris"),
             ("q3", "Who wrote Hamlet?", "William Shakespeare")]


def write_questions(path):
    path.write_text("".join(json.dumps({"id": i, "question": q, "golden_answers": [a]}) + "\n"
                            for i, q, a in QUESTIONS))
    return path


def search_then_answer(body) -> str:
    """A scripted reasoning model: search first, answer once results are in its prompt."""
    prompt = json.dumps(body.get("messages"))
    return "<answer>Paris</answer>" if "Mona" in prompt and "search" in prompt and "<information>" in prompt \
        else "<search>Mona Lisa painter</search>"


def summary_of(out):
    return json.loads((out / "summary.json").read_text())["datasets"]["questions"]


def test_eval_with_the_retriever_down_finishes_with_a_summary(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl")
    with FakeServer(openai_model(search_then_answer)) as model:
        code = main(["eval", "--data", str(data), "--k", "1", "--agent", "reasoning", "--model", model.url,
                     "--retriever", closed_port_url(), "--out", str(tmp_path / "out"), "--no-progress",
                     "tools.retrieval_timeout_s=1", "agent.max_turns=3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "# Evaluation summary" in printed and "3 questions" in printed
    summary = summary_of(tmp_path / "out")
    assert summary["samples"] == 3 and sum(summary["stop_reasons"].values()) == 3


def test_eval_with_the_retriever_answering_500(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl")
    with FakeServer(openai_model(search_then_answer)) as model, FakeServer(fixed(500, {"detail": "boom"})) as ret:
        code = main(["eval", "--data", str(data), "--agent", "reasoning", "--model", model.url, "--retriever",
                     ret.url, "--out", str(tmp_path / "out"), "--no-progress", "agent.max_turns=3"])
    assert code == 0
    assert summary_of(tmp_path / "out")["samples"] == 3
    records = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    observations = [t["observation"] or "" for r in records for t in r["trajectory"]["turns"]]
    assert any("answered 500" in o for o in observations)  # the model was told


def test_eval_with_an_engine_refusing_for_context_length(tmp_path, capsys):
    data = write_questions(tmp_path / "questions.jsonl")
    with FakeServer(openai_model(refuse=LLAMACPP_OVERFLOW)) as model:
        code = main(["eval", "--data", str(data), "--agent", "reasoning", "--model", model.url,
                     "--retriever", closed_port_url(), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    assert summary_of(tmp_path / "out")["stop_reasons"] == {"context_limit": 3}
    assert "context_limit: 3" in capsys.readouterr().out


def test_ask_with_an_engine_failing_says_why_without_a_traceback(tmp_path, capsys):
    with FakeServer(fixed(503, {"error": {"message": "overloaded"}})) as model:
        code = main(["ask", "Who painted the Mona Lisa?", "--agent", "reasoning", "--model", model.url,
                     "--retriever", closed_port_url(), "engine.retries=0", "--json", str(tmp_path / "t.json")])
    assert code == 1
    captured = capsys.readouterr()
    assert "stop: error" in captured.out
    assert "ended early (error): HTTPEngineError" in captured.err and "overloaded" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads((tmp_path / "t.json").read_text())["stop_reason"] == "error"


def test_ask_episode_cap(tmp_path, capsys):
    def slow(body):
        import time

        time.sleep(3)
        return "<answer>late</answer>"

    with FakeServer(openai_model(slow)) as model:
        code = main(["ask", "q?", "--agent", "reasoning", "--model", model.url, "--retriever", closed_port_url(),
                     "--config", str(_yaml(tmp_path, "episode_timeout_s: 0.5\n"))])
    assert code == 1
    assert "ended early (timeout): EpisodeTimeout" in capsys.readouterr().err


def _yaml(tmp_path, text):
    path = tmp_path / "ask.yaml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_eval_on_the_embedded_default_finishes_with_a_summary(tmp_path, bm25_index_dir):
    """The acceptance run: 3 plain questions, no other flag (embedded llama.cpp model + BM25 corpus)."""
    data = write_questions(tmp_path / "questions.jsonl")
    proc = subprocess.run([sys.executable, "-m", "asearcher.cli", "eval", "--data", str(data), "--k", "1",
                           "--out", str(tmp_path / "out"), "--no-progress"],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "# Evaluation summary" in proc.stdout
    summary = summary_of(tmp_path / "out")
    assert summary["samples"] == 3 and "context_limit" not in summary["stop_reasons"]
