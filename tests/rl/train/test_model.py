"""The trainer's model, built one way for every path: dtype rule, a copy never sharing the engine's
weights, the attention kernel, seeded LoRA, and what engines are sent (export_model_weights)."""

from __future__ import annotations

import pytest
import torch
import train_fakes as F

from asearcher.errors import UserError
from asearcher.rl.train.model import LoraConfig, build_trainer_model, export_model_weights, trainer_dtype
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)

NO_LORA = LoraConfig()


def test_trainer_dtype_auto_is_float32_on_cpu_and_for_sharded_master_weights():
    assert trainer_dtype("auto", "cpu") == torch.float32
    assert trainer_dtype("auto", "cuda", sharded=True) == torch.float32  # FSDP2 computes in fsdp.param_dtype
    assert trainer_dtype("bfloat16", "cpu", sharded=True) == torch.bfloat16  # explicit wins everywhere
    assert trainer_dtype("float32", "cuda") == torch.float32


def test_from_a_loaded_model_the_trainer_gets_its_own_copy_in_its_dtype():
    engine_model = F.tiny_model(0)
    model = build_trainer_model(engine_model, "bfloat16", NO_LORA, seed=0)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert next(engine_model.parameters()).dtype == torch.float32  # the engine's copy untouched
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(next(model.parameters()).float(), next(engine_model.parameters()))


def test_from_a_folder_with_the_configured_attention_kernel(tmp_path):
    folder = tiny_hf_folder(tmp_path / "tiny")
    model = build_trainer_model(folder, "auto", NO_LORA, seed=0, attn_implementation="eager")
    assert model.config._attn_implementation == "eager"
    assert next(model.parameters()).dtype == torch.float32
    with pytest.raises(UserError, match="engine.attn_implementation='no_such_kernel'"):
        build_trainer_model(folder, "auto", NO_LORA, seed=0, attn_implementation="no_such_kernel")


def test_export_model_weights_are_views_under_the_model_names():
    model = F.tiny_model(0)
    weights = export_model_weights(model)
    assert set(weights) == set(model.state_dict())
    name, param = next(iter(model.named_parameters()))
    assert weights[name].data_ptr() == param.data_ptr()  # no copy: a WeightSync that keeps them copies


def test_lora_adapters_are_seeded_and_leave_the_global_rng_alone():
    pytest.importorskip("peft")
    lora = LoraConfig(enabled=True, rank=4, alpha=8, target_modules=["q_proj", "v_proj"])
    source = F.tiny_model(0)  # (seeds the global RNG itself: built first)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_trainer_model(source, "float32", lora, seed=7)
    assert torch.equal(torch.rand(1), before)  # the adapters' init did not consume the global stream
    b = build_trainer_model(source, "float32", lora, seed=7)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), k


@pytest.mark.parametrize("tied", [False, True])
def test_meta_model_has_the_loaded_models_modules_and_buffers_but_no_weights(tmp_path, tied):
    from asearcher.rl.train.model import build_meta_trainer_model

    folder = tiny_hf_folder(tmp_path / "tiny", tie_word_embeddings=tied)
    loaded = build_trainer_model(folder, "auto", NO_LORA, seed=0, sharded=True)
    meta = build_meta_trainer_model(folder, "auto", NO_LORA, seed=0, attn_implementation="eager")
    assert all(p.is_meta for p in meta.parameters())
    shapes = {k: (v.shape, v.dtype) for k, v in meta.state_dict().items()}
    assert shapes == {k: (v.shape, v.dtype) for k, v in loaded.state_dict().items()}
    assert (meta.lm_head.weight is meta.model.embed_tokens.weight) is tied  # one parameter when tied
    buffers = dict(meta.named_buffers())
    assert buffers  # the rotary inv_freq: computed at construction, in no checkpoint
    for name, buf in loaded.named_buffers():
        assert not buffers[name].is_meta and torch.equal(buffers[name], buf), name
    assert not meta.training and meta.config._attn_implementation == "eager"
