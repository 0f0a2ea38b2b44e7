"""The Ray actors' code as plain classes (they are only wrapped by `ray.remote`, so this needs no Ray):
engine and trainer actors build their models the local mode's way, the trainer actor publishes what
engines load and round-trips checkpoints through the PolicyTrainer methods."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from asearcher.config import load_config
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed.ray_actors import EngineWorker, TrainerWorker
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)


def test_engine_and_trainer_actors_build_and_publish_like_the_local_mode(tmp_path):
    model = tiny_hf_folder(tmp_path / "tiny")
    config = load_config(TrainConfig, None, [f"model={model}", "engine.attn_implementation=eager"])
    engine = EngineWorker(config, str(model), "transformers")
    assert engine.engine.model.config._attn_implementation == "eager"
    trainer = TrainerWorker(config, str(model), str(tmp_path / "weights"))
    assert trainer.trainer.model.config._attn_implementation == "eager"
    assert trainer.ready() == 0

    path = trainer.publish(0)
    published = load_file(path)
    for k, v in trainer.export_weights().items():
        torch.testing.assert_close(published[k], v, msg=k)

    ckpt = trainer.save_checkpoint(str(tmp_path / "run"), 3, {"version": 0, "note": "x"}, [], 1)
    with torch.no_grad():
        next(trainer.trainer.model.parameters()).add_(1.0)
    ck = trainer.load_checkpoint(ckpt)
    assert (ck.state["step"], ck.state["note"]) == (3, "x")
    for k, v in trainer.export_weights().items():  # the +1.0 is undone: the weights are the checkpoint's
        torch.testing.assert_close(v, published[k], msg=k)
