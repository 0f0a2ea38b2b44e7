"""`asearcher synth` tells the truth: counts by reason at the end, exit 1 with why and what to do when
nothing was accepted, and a dry run through the whole CLI pipeline with a scripted model.

The model is a local OpenAI-compatible fake server (`http_fakes`) whose replies are picked per
synthesis step by the same scripted router the agent tests use: a real model that writes this JSON
reliably cannot run here. The CLI, engines over HTTP, agent, verifier and runner are the real ones.
"""

import json

from http_fakes import FakeServer, closed_port_url
from synth_fakes import Router, happy_replies

from asearcher.api.engine import GenRequest
from asearcher.cli import main
from asearcher.synth.outcomes import count_reasons, diagnose, reason_kind


def router_server(router: Router):
    def respond(method, path, body, headers):
        if path.endswith("/models"):
            return 200, {"data": [{"id": "scripted"}]}
        if path == "/props":
            return 404, {}
        text = router._reply(GenRequest(messages=body["messages"]))
        return 200, {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    return FakeServer(respond)


def synth(corpus_dir, tmp_path, model_url, n, *extra):
    return main(["synth", "--corpus", str(corpus_dir), "--n", str(n), "--proposer", model_url, "--out",
                 str(tmp_path / "q.jsonl"), "--no-progress", "direct_samples=2", "max_edits=2", "json_retries=0",
                 *extra])


def test_dry_run_with_a_scripted_model_accepts_a_question(corpus_dir, tmp_path, capsys):
    with router_server(Router(**happy_replies())) as srv:
        code = synth(corpus_dir, tmp_path, srv.url, 1)
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["accepted"], summary["reasons"]) == (1, {})
    assert "1 accepted, 0 rejected, 0 failed of 1 seeds" in captured.err
    (record,) = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert record["status"] == "accepted" and record["question"].startswith("Which town, on a river")
    assert [h["action"] for h in record["history"]] == ["propose", "inject", "stop"]


def test_a_model_that_cannot_write_the_json_exits_1_saying_why_and_what_to_do(corpus_dir, tmp_path, capsys):
    with router_server(Router(**happy_replies(**{"extract-facts": "Sure! Here are some facts about it."}))) as srv:
        code = synth(corpus_dir, tmp_path, srv.url, 3)
    assert code == 1
    err = capsys.readouterr().err
    assert "0 accepted, 0 rejected, 3 failed of 3 seeds" in err
    assert "fact extraction: the model's reply was not the JSON asked for: 3" in err
    assert "too small" in err and "--proposer" in err


def test_a_model_server_that_is_down_fails_seeds_not_the_run(corpus_dir, tmp_path, capsys):
    code = synth(corpus_dir, tmp_path, closed_port_url(), 2, "engine.retries=0")
    assert code == 1
    err = capsys.readouterr().err
    assert "model server failed: 2" in err and "Traceback" not in err
    rejected = [json.loads(x) for x in (tmp_path / "q.rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == 2 and all(r["status"] == "failed" and r["error"]["kind"] == "ConnectError"
                                      and r["reason"].startswith("model server") for r in rejected)


def test_reason_kinds_and_diagnosis():
    records = [
        {"status": "accepted"},
        {"status": "failed", "reason": "base question: no JSON object in the reply after 2 tries"},
        {"status": "rejected", "reason": "base question invalid: the answer is in the question"},
        {"status": "rejected", "reason": "too easy: tool-free accuracy 1.00 > hard_accuracy 0.25 after 2 edit steps"},
        {"status": "rejected", "reason": "too easy: tool-free accuracy 0.50 > hard_accuracy 0.25 after 1 edit steps"},
    ]
    assert reason_kind(records[0]) == "accepted"
    assert count_reasons(records) == {"too easy: still solved without tools after the edits": 2,
                                      "base question: the model's reply was not the JSON asked for": 1,
                                      "base question judged invalid": 1}
    assert diagnose({"seeds": 5, "accepted": 1, "reasons": count_reasons(records)}) is None
    why = diagnose({"seeds": 4, "accepted": 0, "reasons": count_reasons(records[1:])})
    assert why is not None and "max_edits" in why and "too small" not in why


def test_embedded_defaults_apply_unless_the_config_file_sets_them(tmp_path):
    from asearcher.agent.ask import embedded_defaults
    from asearcher.synth.config import EMBEDDED_SYNTH_DEFAULTS

    config = tmp_path / "synth.yaml"
    config.write_text("direct_samples: 4\nproposer:\n  max_new_tokens: 300\n")
    applied = embedded_defaults(config, EMBEDDED_SYNTH_DEFAULTS)
    assert "engine.n_threads=1" in applied and "verifier.max_new_tokens=96" in applied
    assert not any(a.startswith(("direct_samples=", "proposer.max_new_tokens=")) for a in applied)
