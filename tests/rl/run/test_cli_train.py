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
    assert "rollout.episode_timeout_s" in out and "drops/timeout" in out  # the cap, and where it is counted


def test_unknown_key_names_the_key(capsys):
    assert main(["train", "rollout.nope=3"]) == 2
    assert "rollout.nope" in capsys.readouterr().err


def test_negative_episode_cap_names_the_key(capsys):
    assert main(["train", "rollout.episode_timeout_s=-1"]) == 2
    assert "rollout.episode_timeout_s" in capsys.readouterr().err


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "config.yaml" in capsys.readouterr().err


def test_recipe_names_resolve():
    assert resolve_recipe(None) == DEFAULT_RECIPE
    assert resolve_recipe("qwq-32b-web").name == "qwq-32b-web.yaml"


@pytest.mark.parametrize("sft", [True, False])
def test_resume_before_the_first_rl_checkpoint(tmp_path, capsys, monkeypatch, sft):
    """A run killed in its SFT stage has no RL checkpoint but resumes; without an SFT stage there is
    nothing to resume. (atrain is replaced by a recorder: the real one is run by test_kill_resume_slow.py.)"""
    from asearcher.config import save_config
    from asearcher.rl import launch
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.run.train_loop import TrainResult

    config = TrainConfig()
    config.sft.enabled = sft
    save_config(config, tmp_path / "config.yaml")
    calls = []

    async def recorder(c, run_dir, resume=False, progress=True):
        calls.append((run_dir, resume))
        return TrainResult(run_dir, 0, 0, None, {})

    monkeypatch.setattr(launch, "atrain", recorder)
    rc = main(["train", "--resume", str(tmp_path), "--no-progress"])
    if sft:
        assert rc == 0 and calls == [(tmp_path, True)]
    else:
        assert rc == 2 and not calls and "no checkpoint yet" in capsys.readouterr().err


def test_resume_refuses_overrides_that_change_the_runs_settings(tmp_path, capsys, monkeypatch):
    """total_steps may grow on resume; a changed learning rate or staleness bound would mix records."""
    from asearcher.config import save_config
    from asearcher.rl import launch
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.run.train_loop import TrainResult

    config = TrainConfig()
    config.sft.enabled = True  # resumable without an RL checkpoint (the SFT stage continues)
    save_config(config, tmp_path / "config.yaml")
    calls = []

    async def recorder(c, run_dir, resume=False, progress=True):
        calls.append(c.total_steps)
        return TrainResult(run_dir, 0, 0, None, {})

    monkeypatch.setattr(launch, "atrain", recorder)
    args = ["train", "--resume", str(tmp_path), "--no-progress"]
    assert main([*args, "trainer.lr=1e-3", "rollout.max_staleness=4"]) == 2
    err = capsys.readouterr().err
    assert "rollout.max_staleness: 1 -> 4" in err and "trainer.lr" in err and not calls
    assert main([*args, "total_steps=20", "checkpoint.every_steps=5"]) == 0 and calls == [20]


def test_resume_may_move_the_rollout_servers_but_not_change_the_backend(tmp_path, capsys, monkeypatch):
    """A restarted server may have a new address, or the run may launch its own: the resumed run puts the
    checkpoint's weights on it first, so the records keep their meaning; another backend would not."""
    from asearcher.config import load_config, save_config
    from asearcher.rl import launch
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.run.train_loop import TrainResult

    config = load_config(TrainConfig, None, ["sft.enabled=true", "engine.backend=vllm", "weight_sync=disk",
                                             "engine.servers=[http://10.0.0.5:8000]"])
    save_config(config, tmp_path / "config.yaml")
    calls = []

    async def recorder(c, run_dir, resume=False, progress=True):
        calls.append((c.engine.servers, c.engine.launch))
        return TrainResult(run_dir, 0, 0, None, {})

    monkeypatch.setattr(launch, "atrain", recorder)
    args = ["train", "--resume", str(tmp_path), "--no-progress"]
    assert main([*args, "engine.servers=[http://10.0.0.6:8001]"]) == 0
    assert main([*args, "engine.servers=[]", "engine.launch=true", "engine.launch_python=/venv/bin/python"]) == 0
    assert calls == [(["http://10.0.0.6:8001"], False), ([], True)]
    assert main([*args, "engine.backend=sglang"]) == 2
    assert "engine.backend: 'vllm' -> 'sglang'" in capsys.readouterr().err
