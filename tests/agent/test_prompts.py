"""Prompts as data: the packaged prompt file, selection, validation errors, hashes, the valid-question
draw and writing a file that reads back the same."""

from dataclasses import replace

import pytest

from asearcher.agent.config import AgentConfig
from asearcher.agent.prompts import (
    BUILTIN,
    draw_valid_inst,
    fill,
    load_prompt_file,
    prompt_record,
    select_prompt,
    write_prompt_file,
)
from asearcher.errors import UserError


def test_every_agent_has_a_packaged_default_prompt():
    for kind in ("base", "search-r1", "reasoning", "fc"):
        p = select_prompt(kind)
        assert p.name == kind and kind in p.agents
    assert select_prompt("base", "base-raw").format == "raw"


def test_fill_replaces_only_the_given_placeholders():
    assert fill("{question} {x} {{y}} {}", question="Q?") == "Q? {x} {{y}} {}"
    assert fill("a{b}c", b="{b}") == "a{b}c"  # a value is never filled again


def test_record_names_the_prompt_and_hashes_its_texts(tmp_path):
    rec = prompt_record(AgentConfig(kind="base"))
    assert rec["prompt"] == "base" and rec["prompt_file"] == "builtin" and len(rec["prompt_sha256"]) == 64
    assert rec != prompt_record(AgentConfig(kind="base", prompt="base-raw"))
    # Written out and read back: same texts, same hash.
    out = tmp_path / "copy.yaml"
    write_prompt_file(out, load_prompt_file(BUILTIN), header="copy")
    again = load_prompt_file(out)
    for name, p in load_prompt_file(BUILTIN).items():
        assert again[name].texts == p.texts and again[name].sha256 == p.sha256
    assert prompt_record(AgentConfig(kind="base", prompt_file=str(out)))["prompt_sha256"] == rec["prompt_sha256"]


def test_a_file_with_one_prompt_for_the_agent_needs_no_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("prompts:\n  mine:\n    agents: [fc]\n    texts: {system: 'S', force_answer: 'F'}\n")
    assert select_prompt("fc", file=str(path)).name == "mine"
    with pytest.raises(UserError, match=r"no prompt 'base' in .*mine.yaml; prompts for the 'base' agent there: \[\]"):
        select_prompt("base", file=str(path))
    with pytest.raises(UserError, match="written for \\['fc'\\], not the 'reasoning' agent"):
        select_prompt("reasoning", "mine", str(path))


@pytest.mark.parametrize("body, message", [
    ("prompts: [1]", "a 'prompts' mapping"),
    ("prompts:\n  p: {agents: [base], format: chat, texts: {user: u}}", r"lacks the text\(s\) \['obs_head'"),
    ("prompts:\n  p: {agents: [robot], texts: {}}", "agents must be a list of"),
    ("prompts:\n  p: {agents: [fc], format: raw, texts: {system: s, force_answer: f}}", "fc agent needs format chat"),
    ("prompts:\n  p: {agents: [fc], colour: red, texts: {}}", r"unknown key\(s\) \['colour'\]"),
    ("prompts:\n  p: {agents: [fc], texts: {system: s, force_answer: f, obs_tial: t}}", r"unknown text\(s\) \['obs_tial'\]"),
    ("prompts:\n  p: {agents: [fc, base], texts: {}}", "mixes agents"),
    ("version: 2\nprompts: {}", "unsupported prompt file version"),
    ("prompts:\n  p: {agents: [fc], style: asearcher, texts: {system: s, force_answer: f}}", "is for the base"),
    ("prompts:\n  p: {agents: [fc], style: fancy, texts: {system: s, force_answer: f}}",
     r"style must be one of \['native', 'asearcher'\], got 'fancy'"),
    ("prompts: {p: [", "not valid YAML"),
])
def test_bad_prompt_files_name_the_problem(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(UserError, match=message):
        load_prompt_file(path)


def test_missing_prompt_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read prompt file"):
        select_prompt("base", file=str(tmp_path / "none.yaml"))


def test_valid_instruction_drawn_at_the_ratio_and_repeatable_with_a_seed():
    assert draw_valid_inst(AgentConfig(valid_inst_ratio=1.0), "q") is True
    assert draw_valid_inst(AgentConfig(valid_inst_ratio=0.0), "q") is False
    cfg = AgentConfig(valid_inst_ratio=0.3, seed=7)
    draws = [draw_valid_inst(cfg, str(i)) for i in range(2000)]
    assert 0.26 < sum(draws) / len(draws) < 0.34  # binomial sd ~0.01
    assert draws == [draw_valid_inst(cfg, str(i)) for i in range(2000)]
    with pytest.raises(UserError, match="valid_inst_ratio"):
        AgentConfig(valid_inst_ratio=1.5).validate()


def test_base_prompt_carries_the_invalid_question_instruction_when_drawn():
    p = select_prompt("base")
    assert "the question is invalid" in p.render("user", question="Q", validity=p.validity(False))
    assert "the question is invalid" not in p.render("user", question="Q", validity=p.validity(True))


def test_observation_style_is_data_native_by_default_and_part_of_the_hash(tmp_path):
    assert {p.style for p in load_prompt_file(BUILTIN).values()} == {"native"}
    base = select_prompt("base", "base-raw")
    theirs = replace(base, name="theirs", style="asearcher")
    assert theirs.sha256 != base.sha256  # same texts, another layout of the results: another prompt
    out = tmp_path / "styled.yaml"
    write_prompt_file(out, {"theirs": theirs, "ours": base})
    assert "style: asearcher" in out.read_text() and out.read_text().count("style:") == 1
    again = load_prompt_file(out)
    assert (again["theirs"].style, again["ours"].style) == ("asearcher", "native")
    assert again["theirs"].sha256 == theirs.sha256 and again["ours"].sha256 == base.sha256
