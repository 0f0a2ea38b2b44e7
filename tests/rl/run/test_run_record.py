"""A training run records the selected prompt's name, file and text hash in run.json (as eval runs
do), keeps its first record on resume (warning when the prompt text changed), and shows it in the
report's header."""

from __future__ import annotations

import dataclasses
import json
import logging

from asearcher.agent.prompts import select_prompt
from asearcher.rl.config import TrainConfig
from asearcher.rl.run.report import write_report, write_run_record

OWN_PROMPTS = """\
version: 1
prompts:
  mine:
    agents: [base]
    format: raw
    texts:
      user: "Question: {question}\\n"
      obs_head: "<information>"
      obs_tail: "</information>"
      force_instruction: "Answer now."
"""


def test_run_json_records_the_builtin_prompt_and_its_hash(tmp_path):
    record = write_run_record(TrainConfig(), tmp_path)
    assert json.loads((tmp_path / "run.json").read_text()) == record
    assert record["prompt"] == "base" and record["prompt_file"] == "builtin" and record["agent"] == "base"
    assert record["prompt_sha256"] == select_prompt("base").sha256 and len(record["prompt_sha256"]) == 64
    assert record["model"] == "embedded"  # the UI picks the run's tokenizer by it


def test_run_json_records_a_user_prompt_file_and_resume_keeps_the_first_record(tmp_path, caplog):
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text(OWN_PROMPTS)
    config = TrainConfig()
    config.agent = dataclasses.replace(config.agent, prompt_file=str(prompts), prompt="mine")
    (tmp_path / "run").mkdir()
    first = write_run_record(config, tmp_path / "run")
    assert first["prompt"] == "mine" and first["prompt_file"] == str(prompts)
    assert first["prompt_sha256"] != select_prompt("base").sha256

    prompts.write_text(OWN_PROMPTS.replace("Answer now.", "Answer at once."))  # the text changed
    with caplog.at_level(logging.WARNING):
        again = write_run_record(config, tmp_path / "run", resume=True)
    assert again == first == json.loads((tmp_path / "run" / "run.json").read_text())
    assert "it resumes with 'mine'" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        write_run_record(config, tmp_path / "run", resume=True)
    assert "resumes" in caplog.text  # still differs from the first record
    prompts.write_text(OWN_PROMPTS)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        write_run_record(config, tmp_path / "run", resume=True)
    assert caplog.text == ""  # same text as the start: nothing to warn about


def test_report_header_shows_the_recorded_prompt(tmp_path):
    record = write_run_record(TrainConfig(), tmp_path)
    report = write_report(tmp_path, None, {"run": "r", "steps": 0}).read_text()
    assert "- **prompt**: base" in report and f"- **prompt sha256**: {record['prompt_sha256']}" in report
    (tmp_path / "run.json").unlink()
    assert "prompt" not in write_report(tmp_path, None, {"run": "r"}).read_text()  # a run without a record
