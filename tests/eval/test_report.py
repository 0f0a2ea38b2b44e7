"""Reports: JSON and markdown contents, and that the three plots are real PNG files."""

import json

from asearcher.eval.metrics import summarize
from asearcher.eval.report import write_report
from asearcher.eval.runner import RunOptions, arun_eval
from eval_fakes import make_factory


async def test_report_files(items, tmp_path):
    recs = await arun_eval(items, make_factory(), tmp_path / "results.jsonl", RunOptions(k=2, progress=False))
    summary = summarize(recs, 2)
    written = write_report(summary, recs, tmp_path, meta={"agent": "base", "k": 2})
    assert set(written) == {"summary.json", "summary.md", "accuracy_vs_turns.png", "tool_calls.png", "gen_tokens.png"}
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["meta"]["agent"] == "base"
    assert abs(data["datasets"]["flashrag"]["metrics"]["em"]["avg@2"] - 1 / 3) < 1e-9
    md = (tmp_path / "summary.md").read_text()
    assert "## flashrag" in md and "| EM | 33.3 | 33.3 | 33.3 |" in md and "| metric | avg@2 | pass@2 | maj@2 |" in md
    for name in ("accuracy_vs_turns.png", "tool_calls.png", "gen_tokens.png"):
        head = (tmp_path / name).read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n"
