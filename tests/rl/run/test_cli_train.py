"""`asearcher train`: help lists config keys, unknown keys and bad --resume fail with exit 2."""

from __future__ import annotations

import pytest

from asearcher.cli import main
from asearcher.cli.train import DEFAULT_RECIPE, resolve_recipe


def test_help_lists_config_keys(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "rollout.max_staleness" in out and "checkpoint.keep_last" in out and "--resume" in out


def test_unknown_key_names_the_key(capsys):
    assert main(["train", "rollout.nope=3"]) == 2
    assert "rollout.nope" in capsys.readouterr().err


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "config.yaml" in capsys.readouterr().err


def test_recipe_names_resolve():
    assert resolve_recipe(None) == DEFAULT_RECIPE
    assert resolve_recipe("qwq-32b-web").name == "qwq-32b-web.yaml"
