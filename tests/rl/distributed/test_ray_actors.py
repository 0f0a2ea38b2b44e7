"""The Ray actors' code as plain classes (they are only wrapped by `ray.remote`, so this needs no Ray):
engine and trainer actors build their models the local mode's way, the trainer actor publishes what
engines load and round-trips checkpoints through the PolicyTrainer methods; the engine actor's context
window reaches the rollout side (where the agents' budget is clipped to it)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from safetensors.torch import load_file

from asearcher.config import load_config
from asearcher.rl.config import TrainConfig
from asearcher.agent.budget import afit_to_engine
from asearcher.agent.config import AgentConfig
from asearcher.engines.router import RoutedEngine
from asearcher.rl.distributed.ray_actors import EngineWorker, TrainerWorker
from asearcher.rl.distributed.ray_clients import RayEngineClient
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


class LocalHandle:
    """Stands for a Ray actor handle (Ray is not installed where the unit tests run): `handle.m.remote(*a)`
    gives an awaitable of the actor's `m(*a)`, as Ray's ObjectRef is awaited in an async actor."""

    def __init__(self, actor):
        self.actor = actor

    def __getattr__(self, name):
        method = getattr(self.actor, name)
        return SimpleNamespace(remote=lambda *args: method(*args))


async def test_engine_actors_window_reaches_the_rollout_sides_agents(tmp_path):
    model = tiny_hf_folder(tmp_path / "tiny")  # max_position_embeddings = 512
    config = load_config(TrainConfig, None, [f"model={model}"])
    actor = EngineWorker(config, str(model), "transformers")
    try:
        assert await actor.acontext_length() == 512
        clients = [RayEngineClient(LocalHandle(actor), None, f"engine-{i}") for i in range(2)]
        engine = RoutedEngine(clients)  # what RolloutWorker hands build_rollout_parts
        fitted = await afit_to_engine(AgentConfig(), engine)
        assert fitted.context_limit() == 512
        await engine.aclose()
    finally:
        await actor.aclose()
