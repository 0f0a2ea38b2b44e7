"""`asearcher corpus build|stats` through the real dispatcher."""

import json

import pytest

import asearcher.cli as cli


@pytest.fixture
def run(monkeypatch):
    # Only our subcommand: the others are built by other modules and need not exist for this test.
    monkeypatch.setattr(cli, "SUBCOMMANDS", ["corpus"])
    return cli.main


def test_build_user_file_and_stats(run, tmp_path, capsys):
    src = tmp_path / "pages.jsonl"
    src.write_text(json.dumps({"url": "https://x.org/a", "title": "A", "text": "one two three"}) + "\nnot json\n")
    assert run(["corpus", "build", "--input", str(src), "--out", str(tmp_path / "o")]) == 2
    assert "pages.jsonl:2" in capsys.readouterr().err
    assert run(["corpus", "build", "--input", str(src), "--out", str(tmp_path / "o"), "--skip-bad", "--words", "2"]) == 0
    assert "passages 2" in capsys.readouterr().out
    assert run(["corpus", "stats", str(src)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["records"], stats["bad_lines"]) == (1, 1)


def test_usage_errors(run, tmp_path, capsys):
    assert run(["corpus", "build", "--input", str(tmp_path / "x.jsonl")]) == 2
    assert "--out" in capsys.readouterr().err
    assert run(["corpus", "build", "--words", "0"]) == 2
    assert run(["corpus", "stats", str(tmp_path)]) == 2
    assert "no .jsonl" in capsys.readouterr().err


def test_build_default(run, tmp_path, capsys):
    assert run(["corpus", "build", "--out", str(tmp_path / "d")]) == 0
    assert "qa_test 200" in capsys.readouterr().out
