"""`asearcher eval --summary-model` and `asearcher ask --summary-model`: an external model reads the
pages the agent opens and its notes reach the policy. Both models are local OpenAI-compatible fake
servers (`http_fakes`; no model here follows a script), over the embedded corpus's real BM25 index
and pages. The policy fake answers the gold only once a prompt shows the summary model's note, so
the score says whether the notes reached it."""

import json
from pathlib import Path

from eval_fakes import FIX
from http_fakes import FakeServer, closed_port_url

from asearcher.agent.prompts import select_prompt
from asearcher.cli import main
from asearcher.eval.datasets import load_qa

NOTE = "SUMMARY-NOTE-7f3a"
GOLD = {it.question: it.golds[0] for it in load_qa(FIX / "flashrag.jsonl")}


def chat_server(name, write):
    """A fake OpenAI-compatible chat server named `name` whose reply is `write(messages)`."""
    def respond(method, path, body, headers):
        if path.endswith("/models"):
            return 200, {"data": [{"id": name}]}
        if path == "/props":
            return 404, {}
        text = write(body["messages"])
        return 200, {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    return respond


def policy_opening(url):
    def write(messages):
        prompt = json.dumps(messages)
        if NOTE in prompt:
            question = next(q for q in GOLD if json.dumps(q)[1:-1] in prompt)
            return f"<thought>The notes say it.</thought><answer>{GOLD[question]}</answer>"
        return f"<thought>Read the page.</thought><access>{url}</access>"
    return chat_server("policy", write)


def summarizer(seen):
    def write(messages):
        seen.append(json.dumps(messages))
        return f"{NOTE}: the page says what the question needs."
    return chat_server("summary", write)


def _page_url(wiki_corpus_dir):
    with open(Path(wiki_corpus_dir) / "pages.jsonl") as f:
        return json.loads(f.readline())["url"]


def test_eval_summary_model_writes_the_notes_the_policy_reads(tmp_path, bm25_index_dir, wiki_corpus_dir):
    seen: list[str] = []
    out = tmp_path / "out"
    with FakeServer(policy_opening(_page_url(wiki_corpus_dir))) as policy, FakeServer(summarizer(seen)) as summ:
        code = main(["eval", "--data", str(FIX / "flashrag.jsonl"), "--agent", "reasoning", "--model", policy.url,
                     "--retriever", str(bm25_index_dir), "--summary-model", summ.url, "--out", str(out),
                     "--no-progress", "agent.min_actions_before_answer=0", "agent.max_turns=4"])
    assert code == 0
    assert len(seen) == len(GOLD)  # one page read per question, each by the summary model
    assert {q for q in GOLD if any(json.dumps(q)[1:-1] in s for s in seen)} == set(GOLD)  # with its question
    em = json.loads((out / "summary.json").read_text())["datasets"]["flashrag"]["metrics"]["em"]
    assert em["avg@1"] == 1.0  # every answer came after the summary model's note
    run = json.loads((out / "run.json").read_text())
    assert run["summary_model"] == summ.url and run["summary_prompt"] == "summary"
    assert run["summary_prompt_sha256"] == select_prompt("summary").sha256
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    reads = [t for r in records for t in r["trajectory"]["turns"] if t["action"] == "access"]
    assert reads and all(t["data"]["notes_by"] == "summary" and NOTE in t["data"]["notes"] for t in reads)


def test_eval_without_summary_model_the_policy_reads(tmp_path, bm25_index_dir, wiki_corpus_dir):
    out = tmp_path / "out"
    with FakeServer(policy_opening(_page_url(wiki_corpus_dir))) as policy:
        code = main(["eval", "--data", str(FIX / "flashrag.jsonl"), "--agent", "reasoning", "--model", policy.url,
                     "--retriever", str(bm25_index_dir), "--out", str(out), "--no-progress",
                     "agent.min_actions_before_answer=0", "agent.max_turns=3"])
    assert code == 0
    em = json.loads((out / "summary.json").read_text())["datasets"]["flashrag"]["metrics"]["em"]
    assert em["avg@1"] == 0.0  # no note ever reached the policy: it kept opening the page
    run = json.loads((out / "run.json").read_text())
    assert run["summary_model"] is None and run["summary_prompt_sha256"] is None


def test_ask_summary_model(tmp_path, bm25_index_dir, wiki_corpus_dir, capsys):
    seen: list[str] = []
    question = next(iter(GOLD))
    with FakeServer(policy_opening(_page_url(wiki_corpus_dir))) as policy, FakeServer(summarizer(seen)) as summ:
        code = main(["ask", question, "--agent", "reasoning", "--model", policy.url, "--retriever",
                     str(bm25_index_dir), "--summary-model", summ.url, "min_actions_before_answer=0",
                     "--json", str(tmp_path / "t.json")])
    assert code == 0 and len(seen) == 1
    traj = json.loads((tmp_path / "t.json").read_text())
    assert traj["answer"] == GOLD[question]
    assert f"notes (summary model): {NOTE}" in capsys.readouterr().out  # the live trace says who read


def test_summary_model_with_an_agent_that_writes_no_page_notes_is_refused(tmp_path, capsys):
    # Refused before anything is built or contacted (the URLs point at nothing).
    code = main(["ask", "q?", "--agent", "fc", "--model", "http://127.0.0.1:9/v1", "--retriever",
                 "http://127.0.0.1:9", "--summary-model", "http://127.0.0.1:9/v1"])
    assert code == 2 and "the 'fc' agent reads no pages" in capsys.readouterr().err
    code = main(["eval", "--data", str(FIX / "flashrag.jsonl"), "--agent", "search-r1", "--model",
                 "http://127.0.0.1:9/v1", "--summary-model", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o")])
    assert code == 2 and "the 'search-r1' agent" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_eval_with_the_summary_model_down_records_typed_stops_and_finishes(tmp_path, bm25_index_dir,
                                                                           wiki_corpus_dir):
    out = tmp_path / "out"
    with FakeServer(policy_opening(_page_url(wiki_corpus_dir))) as policy:
        code = main(["eval", "--data", str(FIX / "flashrag.jsonl"), "--agent", "reasoning", "--model", policy.url,
                     "--retriever", str(bm25_index_dir), "--summary-model", closed_port_url(), "--out", str(out),
                     "--no-progress", "agent.min_actions_before_answer=0", "agent.max_turns=3"])
    assert code == 0  # the world failed the episodes, not the run
    summary = json.loads((out / "summary.json").read_text())["datasets"]["flashrag"]
    assert summary["samples"] == len(GOLD) and summary["stop_reasons"] == {"error": len(GOLD)}
