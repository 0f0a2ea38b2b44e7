"""build_components: the engine's and the trainer's models from one file, separate weights, and the
engine.attn_implementation key honoured by both; the training agents' budget fitted to the engine's window."""

from __future__ import annotations

import logging

import pytest
import torch

from asearcher.config import load_config
from asearcher.rl.config import TrainConfig
from asearcher.engines.scripted import ScriptedEngine
from asearcher.rl.run.components import build_components, build_rollout_parts
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)


async def test_engine_and_trainer_models_are_separate_and_use_the_configured_attention(tmp_path, bm25_index_dir):
    model = tiny_hf_folder(tmp_path / "tiny")
    config = load_config(TrainConfig, None, [f"model={model}", "eval.enabled=false",
                                             "engine.attn_implementation=eager"])
    parts = build_components(config)
    try:
        engine_model, trainer_model = parts.engine.model, parts.trainer_model
        assert engine_model.config._attn_implementation == "eager"
        assert trainer_model.config._attn_implementation == "eager"
        assert next(trainer_model.parameters()).dtype == torch.float32
        e, t = next(engine_model.parameters()), next(trainer_model.parameters())
        torch.testing.assert_close(e, t)  # the same starting weights ...
        assert e.data_ptr() != t.data_ptr()  # ... in separate tensors
    finally:
        for close in parts.closers:
            await close()


async def test_training_agents_budget_is_clipped_to_the_engines_window_with_one_warning(bm25_index_dir, caplog):
    # An engine that states a 1024-token window (a llama.cpp slot, say) under the default 8192-token agent.
    engine = ScriptedEngine([], context_length=1024)
    config = load_config(TrainConfig, None, ["eval.enabled=true", "eval.temperature=0"])
    assert config.agent.context_limit() > 1024
    parts = build_rollout_parts(config, engine)
    try:
        with pytest.raises(RuntimeError, match="afit"):  # an episode before the fit would overflow the engine
            parts.agent_factory(0)
        with caplog.at_level(logging.WARNING):
            for _ in range(2):  # TrainLoop runs prepare once; even twice it warns once
                for prepare in parts.prepare:
                    await prepare()
            agents = [parts.agent_factory(seed) for seed in range(8)] + [parts.eval_agent_factory()]
        assert {a.config.context_limit() for a in agents} == {1024}
        assert [a.config.seed for a in agents[:8]] == list(range(8))  # each episode keeps its own seed
        assert agents[-1].config.temperature == 0.0  # held-out episodes keep evaluation sampling
        warnings = [r.getMessage() for r in caplog.records if "clipping the agent's budget" in r.getMessage()]
        assert len(warnings) == 1 and "agent.max_context_tokens=8192 -> 1024" in warnings[0]
    finally:
        for close in parts.closers:
            await close()
