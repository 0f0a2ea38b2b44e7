"""`asearcher ask` end to end with the real embedded model (SmolLM2-135M) and the embedded corpus."""

import os
import subprocess
import sys

import pytest

from asearcher.api import Trajectory


@pytest.mark.slow  # loads the model and builds the default index: minutes on 2 cores
def test_ask_with_embedded_model_prints_search_and_answer(tmp_path, bm25_index_dir):
    out = tmp_path / "t.json"
    proc = subprocess.run(
        [sys.executable, "-m", "asearcher.cli", "ask", "Who painted the Mona Lisa?", "--max-turns", "4",
         "--json", str(out), "temperature=0", "max_new_tokens_per_turn=96"],
        check=False, capture_output=True, text=True, timeout=900, env={**os.environ},
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1 = the episode ended without an answer
    assert lines[0].startswith("question: Who painted the Mona Lisa?")
    assert any("] search: " in line for line in lines), proc.stdout
    assert any(line.startswith("answer: ") for line in lines)
    assert out.is_file()
    saved = Trajectory.from_json(out.read_text())
    assert saved.question == "Who painted the Mona Lisa?" and saved.turns
    searches = [t for t in saved.turns if t.action == "search"]
    assert searches and searches[0].argument and searches[0].data.get("hits"), saved.turns[0]
    assert f"answer: {saved.answer if saved.answer is not None else '(no answer)'}" in lines  # the run it printed
    assert " srv " not in proc.stderr and "llama_model_loader" not in proc.stderr  # llama.cpp's logs are off


def test_json_path_that_is_a_folder_fails_before_the_episode(tmp_path, capsys):
    from asearcher.cli import main

    assert main(["ask", "q", "--json", str(tmp_path)]) == 2
    assert "--json" in capsys.readouterr().err


def test_a_bad_model_fails_before_any_index_is_built(tmp_path, monkeypatch, capsys):
    from asearcher.cli import main

    monkeypatch.setenv("ASEARCHER_HOME", str(tmp_path / "fresh-home"))  # no default index here
    assert main(["ask", "q", "--model", str(tmp_path / "nonexistent")]) == 2
    err = capsys.readouterr().err
    assert "nonexistent" in err and "no such path" in err
    assert not (tmp_path / "fresh-home").exists()
