"""The bundled recipes load into TrainConfig and keep the values they cite (their launch plans: tests/cli/test_train_dry_run_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asearcher.config import load_config
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig

RECIPES = Path(__file__).resolve().parents[3] / "src" / "asearcher" / "recipes"


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
    # ASearcher's base workflow and asearcher_local_16nodes.yaml (the recipe comments name each source)
    assert c.data.train.endswith("ASearcher-Base-35k.jsonl")
    assert (c.agent.max_new_tokens_per_turn, c.agent.max_context_tokens, c.trainer.max_tokens_per_mb) == (1024, 12000,
                                                                                                          12000)
    a = c.advantage
    assert (a.baseline, a.reward_bias, a.reward_scaling, a.reward_clip, a.token_norm) == ("group_mean", -0.5, 10.0,
                                                                                         20.0, True)


def test_qwq_web_recipe():
    c = load_config(TrainConfig, RECIPES / "qwq-32b-web.yaml")
    assert (c.agent.kind, c.agent.max_turns, c.rollout.reward, c.retriever) == ("reasoning", 128, "judge", "web")
    assert c.data.train.endswith("ASearcher-LRM-35k.jsonl")
    assert (c.tools.topk, c.agent.max_new_tokens_per_turn, c.cluster.allocation) == (10, 30000, "sglang.d2p1t8+d32p1t1")
    a = c.advantage
    assert (a.baseline, a.reward_bias, a.reward_scaling, a.reward_clip, a.token_norm) == ("grpo", -0.5, 10.0, 20.0,
                                                                                         True)


def test_cpu_default_keeps_the_default_training_signal():
    """The reward transform's defaults are the identity on its baselined rewards (grpo over groups of 4:
    |b| <= sqrt(3) < reward_clip), so the cpu-default recipe trains as before the keys existed."""
    c = load_config(TrainConfig, RECIPES / "cpu-default.yaml")
    a = c.advantage
    assert (a.baseline, a.token_norm, a.reward_bias, a.reward_scaling, a.reward_clip) == ("grpo", False, 0.0, 1.0,
                                                                                         20.0)
    assert c.rollout.group_size ** 0.5 < a.reward_clip


def test_unknown_key_and_bad_values_fail_loudly():
    with pytest.raises(UserError, match="rollout.bogus"):
        load_config(TrainConfig, RECIPES / "cpu-default.yaml", ["rollout.bogus=1"])
    with pytest.raises(UserError, match="trainer.temperature"):
        load_config(TrainConfig, None, ["agent.temperature=0.7"])
    with pytest.raises(UserError, match="max_concurrent"):
        load_config(TrainConfig, None, ["rollout.group_size=8", "rollout.max_concurrent=4"])


def test_cpu_default_runs_the_sft_warm_start_and_gpu_recipes_do_not():
    c = load_config(TrainConfig, RECIPES / "cpu-default.yaml")
    assert c.sft.enabled and (c.sft.questions, c.sft.oracle, c.sft.lr, c.sft.max_tokens_per_mb) == (96, False, 1e-4, 1280)
    # issue 15: the fact task, the weak expert (blind reading), difficulty-aware sampling
    assert (c.data.train, c.eval.data, c.sft.read_prob, c.data.skip_window) == ("facts", "facts", 0.5, 1)
    assert c.agent.max_context_tokens <= c.trainer.max_tokens_per_mb  # one episode always fits a micro-batch
    for name in ("qwen2.5-7b-local-rag", "qwen2.5-14b-local-rag", "qwq-32b-web"):
        assert not load_config(TrainConfig, RECIPES / f"{name}.yaml").sft.enabled


def test_sft_keys_parse_and_unknown_or_bad_ones_fail():
    c = load_config(TrainConfig, None, ["sft.enabled=true", "sft.questions=12", "sft.lr=0.0003"])
    assert (c.sft.enabled, c.sft.questions, c.sft.lr) == (True, 12, 3e-4)
    with pytest.raises(UserError, match="sft.bogus"):
        load_config(TrainConfig, None, ["sft.bogus=1"])
    with pytest.raises(UserError, match="sft.questions"):
        load_config(TrainConfig, None, ["sft.questions=0"])


def test_an_engine_backend_the_launcher_would_not_use_is_refused():
    for overrides, match in [
        (["engine.backend=auto"], r"engine.backend='auto': local training"),
        (["cluster.backend=ray", "engine.backend=sglang"], r"cluster.backend=ray without cluster.allocation"),
        (["cluster.backend=ray", "cluster.allocation=vllm.d1p1t1+d1p1t1", "engine.backend=sglang"],
         r"generates with vllm"),
    ]:
        with pytest.raises(UserError, match=match):
            load_config(TrainConfig, None, overrides)
    ok = load_config(TrainConfig, None, ["cluster.backend=ray", "cluster.allocation=vllm.d1p1t1+d1p1t1",
                                         "engine.backend=vllm"])
    assert ok.engine.backend == "vllm"
