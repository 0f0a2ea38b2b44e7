"""Resume is safe: a run folder records what determines its records; resuming with other settings is
refused naming each difference; --force-new moves the old files aside and starts anew."""

import json
import logging

import pytest
from http_fakes import FakeServer, closed_port_url, openai_model

from asearcher.cli import main
from asearcher.errors import UserError
from asearcher.eval.config import EvalConfig
from asearcher.eval.run_folder import prepare_run_folder, record_settings


def identity(**settings):
    config = EvalConfig()
    for key, value in settings.items():
        section, name = key.split("__")
        setattr(getattr(config, section), name, value)
    return {"data": "/d/q.jsonl", "agent": "base", "model": "embedded", "prompt_sha256": "0123456789abcdef",
            "settings": record_settings(config)}


def test_same_settings_resume_and_operational_keys_do_not_count(tmp_path):
    prepare_run_folder(tmp_path, identity())
    prepare_run_folder(tmp_path, identity())  # resume
    prepare_run_folder(tmp_path, identity(engine__timeout_s=5.0, engine__retries=0, tools__retrieval_timeout_s=1.0))
    assert "engine.timeout_s" not in json.loads((tmp_path / "run.json").read_text())["settings"]


def test_other_sampling_agent_or_tools_settings_are_refused_naming_each(tmp_path):
    prepare_run_folder(tmp_path, identity())
    with pytest.raises(UserError) as info:
        prepare_run_folder(tmp_path, identity(agent__temperature=0.0, tools__topk=3, engine__mode="completions"))
    message = str(info.value)
    assert "settings.agent.temperature: 0.7 -> 0.0" in message
    assert "settings.tools.topk: 5 -> 3" in message
    assert "settings.engine.mode: 'chat' -> 'completions'" in message
    assert "--force-new" in message


def test_prompt_change_is_refused(tmp_path):
    prepare_run_folder(tmp_path, identity())
    changed = {**identity(), "prompt_sha256": "0" * 16}
    with pytest.raises(UserError, match="prompt_sha256"):
        prepare_run_folder(tmp_path, changed)


def test_force_new_moves_the_old_run_aside(tmp_path):
    prepare_run_folder(tmp_path, identity())
    (tmp_path / "results.jsonl").write_text('{"qid": "a", "sample": 0}\n')
    prepare_run_folder(tmp_path, identity(agent__temperature=0.0), force_new=True)
    (moved,) = tmp_path.glob("replaced-*")
    assert (moved / "results.jsonl").read_text() == '{"qid": "a", "sample": 0}\n'
    assert not (tmp_path / "results.jsonl").exists()
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["agent.temperature"] == 0.0


def test_folder_of_an_older_version_resumes_with_a_warning(tmp_path, caplog):
    (tmp_path / "run.json").write_text(json.dumps({"data": "/d/q.jsonl", "agent": "base", "model": "embedded"}))
    with caplog.at_level(logging.WARNING):
        prepare_run_folder(tmp_path, identity())
    assert "did not record" in caplog.text


def test_cli_refuses_a_resume_at_another_temperature_then_force_new(tmp_path, capsys):
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"id": "q1", "question": "Capital of France?", "golden_answers": ["Paris"]}) + "\n")
    out = tmp_path / "out"
    with FakeServer(openai_model(lambda body: "<answer>Paris</answer>")) as model:
        base = ["eval", "--data", str(data), "--agent", "reasoning", "--model", model.url, "--retriever",
                closed_port_url(), "--out", str(out), "--no-progress"]
        assert main([*base, "agent.temperature=0"]) == 0
        assert main([*base, "agent.temperature=0", "engine.timeout_s=20"]) == 0  # operational: resumes
        capsys.readouterr()
        assert main([*base, "agent.temperature=0.7"]) == 2
        assert "settings.agent.temperature: 0.0 -> 0.7" in capsys.readouterr().err
        assert main([*base, "agent.temperature=0.7", "--force-new"]) == 0
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert json.loads((out / "run.json").read_text())["settings"]["agent.temperature"] == 0.7
    assert len(list(out.glob("replaced-*/results.jsonl"))) == 1
