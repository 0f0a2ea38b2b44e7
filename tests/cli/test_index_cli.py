"""`asearcher index`: builds a loadable folder; bad input exits 2 with a message naming it."""

from __future__ import annotations

import json

from asearcher.cli import main
from asearcher.retrieval import load_index


def _corpus(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"id": str(i), "contents": f'"{t}"\n{x}'})
            for i, (t, x) in enumerate([("Moon", "Earth's natural satellite."), ("Jazz", "A music genre.")])
        )
    )
    return path


def test_builds_an_index(tmp_path, capsys):
    assert main(["index", "--corpus", str(_corpus(tmp_path)), "--out", str(tmp_path / "i"), "bm25.stemmer=default"]) == 0
    assert "bm25 index of 2 passages" in capsys.readouterr().out
    r = load_index(tmp_path / "i")
    assert r.config.stemmer == "default"
    assert r.search("music", 1)[0].passage.title == "Jazz"


def test_bad_inputs_exit_2_naming_them(tmp_path, capsys):
    assert main(["index", "--corpus", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "i")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert main(["index", "--corpus", str(_corpus(tmp_path)), "--out", str(tmp_path / "i"), "dense.index_type=lsh"]) == 2
    assert "dense.index_type" in capsys.readouterr().err
    assert main(["index", "--corpus", str(_corpus(tmp_path))]) == 2
    assert "--out" in capsys.readouterr().err
