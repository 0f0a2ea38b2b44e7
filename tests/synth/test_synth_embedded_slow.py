"""End to end with the embedded SmolLM2-135M on the embedded corpus: `asearcher synth --n 5`.

A 135M model rarely writes the JSON asked for, so most seeds end "failed"; what is tested is that
every record is well-formed, the accepted file holds only accepted records, and the run ends
cleanly with a summary (exit 1 with the reasons when nothing was accepted).
"""

from __future__ import annotations

import json

import pytest

from asearcher.cli import main
from asearcher.eval.datasets import load_qa

KEYS = {
    "id",
    "question",
    "answer",
    "source",
    "status",
    "reason",
    "seed_url",
    "facts",
    "pages",
    "accuracy",
    "history",
    "synth",
}


@pytest.mark.slow
def test_synth_n5_with_the_embedded_model(tmp_path, wiki_corpus_dir, capsys):
    out = tmp_path / "synth.jsonl"
    argv = [
        "synth",
        "--n",
        "5",
        "--out",
        str(out),
        "--concurrency",
        "4",
        "--no-progress",
        "direct_samples=2",
        "max_edits=1",
        "json_retries=0",
        "page_chars=800",
        "proposer.max_new_tokens=64",
        "verifier.max_new_tokens=64",
        "answer.max_new_tokens=32",
    ]
    code = main(argv)
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    # Nothing accepted (the usual outcome with a 135M model) exits 1, saying why and what to do.
    assert code == (0 if summary["accepted"] else 1)
    if not summary["accepted"]:
        assert "no question was accepted" in captured.err and "--proposer" in captured.err
    assert summary["seeds"] == 5
    accepted = [json.loads(x) for x in out.read_text().splitlines()]
    others = [json.loads(x) for x in (tmp_path / "synth.rejected.jsonl").read_text().splitlines()]
    assert len(accepted) + len(others) == 5 == summary["accepted"] + summary["rejected"] + summary["failed"]
    for r in accepted + others:
        assert KEYS <= set(r), set(r) ^ KEYS
        assert r["history"] and r["seed_url"].startswith("https://en.wikipedia.org/wiki/")
    assert all(r["status"] == "accepted" for r in accepted)
    assert all(r["status"] in ("rejected", "failed") and r["reason"] for r in others)
    if accepted:
        assert len(load_qa(str(out))) == len(accepted)
    # rerun: nothing left to do
    assert main(argv) == code and json.loads(capsys.readouterr().out)["seeds"] == 5
