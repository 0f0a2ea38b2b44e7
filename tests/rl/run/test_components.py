"""build_components: the engine's and the trainer's models from one file, separate weights, and the
engine.attn_implementation key honoured by both."""

from __future__ import annotations

import torch

from asearcher.config import load_config
from asearcher.rl.config import TrainConfig
from asearcher.rl.run.components import build_components
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
