"""Weight sync into a tiny TransformersEngine: in-process copy and on-disk safetensors, versions, errors."""

from __future__ import annotations

import pytest
import torch
import train_fakes as F

from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.transformers_engine import TransformersEngine
from asearcher.errors import UserError
from asearcher.rl.train.model import LoraConfig, apply_lora
from asearcher.rl.train.trainer import Trainer, TrainerConfig
from asearcher.rl.train.weight_sync import DiskWeightSync, InProcessWeightSync, WeightsSnapshot


@pytest.mark.parametrize("kind", ["in_process", "disk"])
async def test_engine_receives_trainer_weights_and_version(tmp_path, kind):
    engine = TransformersEngine(F.tiny_model(0), ByteTokenizer())
    trainer_model = F.tiny_model(1)  # different weights
    trainer = Trainer(trainer_model, TrainerConfig())
    sync = InProcessWeightSync() if kind == "in_process" else DiskWeightSync(tmp_path / "w")
    assert sync.latest_version() == -1
    for v in (1, 2):
        await sync.apublish(trainer, v)
        assert await sync.aupdate(engine) == v
    assert engine.version == 2
    for (k, a), b in zip(engine.model.state_dict().items(), trainer_model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    with torch.no_grad():  # the published copy does not alias the trainer's live weights
        next(trainer_model.parameters()).add_(1.0)
    assert not torch.equal(next(engine.model.parameters()), next(trainer_model.parameters()))
    if kind == "disk":
        assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["v2"]  # older versions deleted
    await engine.aclose()


async def test_engine_without_weight_updates_is_refused():
    sync = InProcessWeightSync()
    await sync.apublish(WeightsSnapshot({"w": torch.zeros(1)}), 1)
    with pytest.raises(TypeError, match="aupdate_weights"):
        await sync.aupdate(F.ScriptedEngine([]))


def test_lora_without_peft_is_a_clear_user_error():
    pytest.importorskip("torch")
    try:
        import peft  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="peft"):
            apply_lora(F.tiny_model(), LoraConfig(enabled=True))
    else:
        pytest.skip("peft is installed")
