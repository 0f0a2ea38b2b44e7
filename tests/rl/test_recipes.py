"""The bundled recipes load into TrainConfig (schema checked now; the GPU ones run after scale-out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asearcher.config import load_config
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig

RECIPES = Path(__file__).resolve().parents[2] / "src" / "asearcher" / "recipes"


@pytest.mark.parametrize("name", ["cpu-default", "qwen2.5-7b-local-rag", "qwen2.5-14b-local-rag", "qwq-32b-web"])
def test_recipe_validates(name):
    c = load_config(TrainConfig, RECIPES / f"{name}.yaml")
    assert c.name == name


@pytest.mark.parametrize("name", ["qwen2.5-7b-local-rag", "qwen2.5-14b-local-rag"])
def test_paper_local_rag_recipes(name):
    c = load_config(TrainConfig, RECIPES / f"{name}.yaml")
    assert (c.rollout.group_size, c.rollout.batch_questions, c.agent.max_turns) == (16, 128, 32)
    assert (c.trainer.lr, c.trainer.loss.eps_clip, c.rollout.max_staleness) == (5e-6, 0.4, 4)
    assert c.rollout.reward == "f1_format" and c.retriever.startswith("http://")


def test_qwq_web_recipe():
    c = load_config(TrainConfig, RECIPES / "qwq-32b-web.yaml")
    assert (c.agent.kind, c.agent.max_turns, c.rollout.reward, c.retriever) == ("reasoning", 128, "judge", "web")


def test_unknown_key_and_bad_values_fail_loudly():
    with pytest.raises(UserError, match="rollout.bogus"):
        load_config(TrainConfig, RECIPES / "cpu-default.yaml", ["rollout.bogus=1"])
    with pytest.raises(UserError, match="trainer.temperature"):
        load_config(TrainConfig, None, ["agent.temperature=0.7"])
    with pytest.raises(UserError, match="max_concurrent"):
        load_config(TrainConfig, None, ["rollout.group_size=8", "rollout.max_concurrent=4"])
