"""Shared `--config` + `key=value` handling: overrides may sit among options in every subcommand that
takes them, and an explicit option beats an override, which beats the config file."""

from __future__ import annotations

import pytest

from asearcher.cli import build_parser, main
from asearcher.cli.common import config_from_args
from asearcher.retrieval.server_config import ServerConfig


@pytest.mark.parametrize(
    "argv, option, value",
    [
        (["ask", "q", "a=1", "--max-turns", "4", "b=2"], "max_turns", 4),
        (["eval", "a=1", "--k", "2", "b=2"], "k", 2),
        (["synth", "a=1", "--n", "3", "b=2"], "n", 3),
        (["synth", "filter", "a=1", "--questions", "q.jsonl", "b=2", "--rollouts", "r.jsonl"], "questions", "q.jsonl"),
        (["train", "a=1", "--no-progress", "b=2"], "no_progress", True),
        (["index", "a=1", "--kind", "dense", "b=2"], "kind", "dense"),
        (["serve", "a=1", "--port", "9", "b=2"], "port", 9),
    ],
)
def test_overrides_may_sit_among_options(argv, option, value):
    args = build_parser().parse_args(argv)
    assert args.overrides == ["a=1", "b=2"]
    assert getattr(args, option) == value


def test_option_beats_override_beats_file(tmp_path):
    recipe = tmp_path / "server.yaml"
    recipe.write_text("port: 1\nmax_batch: 7\n")
    parser = build_parser()
    args = parser.parse_args(["serve", "--config", str(recipe), "port=2"])
    config = config_from_args(ServerConfig, args, flags={"host": "host", "port": "port"})
    assert (config.port, config.max_batch) == (2, 7)
    args = parser.parse_args(["serve", "--config", str(recipe), "port=2", "--port", "3"])
    assert config_from_args(ServerConfig, args, flags={"host": "host", "port": "port"}).port == 3


@pytest.mark.parametrize("argv", [["serve", "bogus.key=1"], ["index", "bogus=1"], ["serve", "--config", "/nonexistent.yaml"]])
def test_bad_config_input_exits_2_naming_it(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("bogus" in err or "/nonexistent.yaml" in err)


def _subparsers(parser):
    (action,) = [a for a in parser._actions if a.choices and a.dest == "command"]
    return action.choices


@pytest.mark.parametrize("command", ["ask", "serve", "eval", "synth", "train", "index", "corpus"])
def test_help_wraps_the_description_and_keeps_the_epilog_as_written(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    p = _subparsers(build_parser())[command]
    text = p.format_help()
    # The description: its own paragraph, wrapped to the terminal, every word kept.
    paragraphs = text.split("\n\n")
    (described,) = [para for para in paragraphs if para.split()[:4] == p.description.split()[:4]]
    assert " ".join(described.split()) == " ".join(p.description.split())
    assert all(len(line) <= 80 for line in described.splitlines())
    if len(p.description) > 80:
        assert len(described.splitlines()) > 1
    if p.epilog:  # the config key listing and examples, line for line
        assert p.epilog in text
