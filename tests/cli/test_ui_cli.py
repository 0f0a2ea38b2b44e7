"""`asearcher ui` flags: the bind rule and the help."""

from __future__ import annotations

import pytest

from asearcher.cli import build_parser, main
from asearcher.cli.ui import ui_config


def _args(*argv: str):
    return build_parser().parse_args(["ui", *argv])


def test_remote_bind_needs_allow_remote(capsys):
    assert main(["ui", "--host", "0.0.0.0", "--no-ask"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_remote_bind_gets_a_token():
    config = ui_config(_args("--host", "0.0.0.0", "--allow-remote"))
    assert len(config.token) >= 24
    assert ui_config(_args("--host", "0.0.0.0", "--allow-remote", "--token", "abc")).token == "abc"
    assert ui_config(_args()).token == "" and ui_config(_args()).host == "127.0.0.1"


def test_runs_and_overrides(tmp_path):
    a = _args("--runs", str(tmp_path), "--model", "http://h:1/v1", "temperature=0")
    assert a.runs == [str(tmp_path)] and a.model == ["http://h:1/v1"] and a.overrides == ["temperature=0"]


def test_missing_runs_folder_is_named(tmp_path, capsys):
    from asearcher.ui.app import create_app
    from asearcher.ui.config import UIConfig
    from asearcher.errors import UserError

    with pytest.raises(UserError, match="no-such"):
        create_app(UIConfig(runs=[str(tmp_path / "no-such")]))
