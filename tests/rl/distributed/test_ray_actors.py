"""The Ray actors' code as plain classes (they are only wrapped by `ray.remote`, so this needs no Ray):
engine and trainer actors build their models the local mode's way, the trainer actor publishes what
engines load and round-trips checkpoints through the PolicyTrainer methods; the engine actor's context
window reaches the rollout side (where the agents' budget is clipped to it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from asearcher.agent.budget import afit_to_engine
from asearcher.agent.config import AgentConfig
from asearcher.config import load_config
from asearcher.engines.router import RoutedEngine
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
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

    path = trainer.publish(0)  # the version's folder, as DiskWeightSync hands every engine (SGLang reads folders)
    assert path == str(tmp_path / "weights" / "v0")
    published = load_file(f"{path}/model.safetensors")
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


@pytest.mark.parametrize("server, expected", [
    ("sglang", ["-m", "sglang.launch_server", "--model-path", "{model}", "--host", "127.0.0.1", "--port", "{port}",
                "--tp-size", "2", "--pp-size", "1", "--context-length", "4096"]),
    ("vllm", ["-m", "vllm.entrypoints.openai.api_server", "--model", "{model}", "--host", "127.0.0.1", "--port",
              "{port}", "--logprobs-mode", "processed_logprobs", "--worker-extension-cls",
              "asearcher.engines.vllm_ext.WeightUpdateExtension", "--tensor-parallel-size", "2",
              "--pipeline-parallel-size", "1", "--distributed-executor-backend", "mp", "--context-length", "4096"]),
])
def test_engine_actor_launches_the_allocations_server_with_its_parallel_sizes(tmp_path, server, expected):
    """The engine actor of a `sglang.` / `vllm.` allocation starts that server on its GPUs with t / p. Neither
    server can run here (no GPU, neither package in this environment), so `engine.launch_python` is a stand-in
    interpreter that records its command line and exits 3: the launch fails the way a crashing server does."""
    model = tiny_hf_folder(tmp_path / "tiny")
    record = tmp_path / "argv.txt"
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nexit 3\n')
    fake.chmod(0o755)
    config = load_config(TrainConfig, None, [f"model={model}", f"engine.launch_python={fake}",
                                             "engine.launch_args=['--context-length', '4096']"])
    with pytest.raises(UserError, match=r"server for .* exited with code 3 before it was healthy"):
        EngineWorker(config, str(model), server, tp=2, pp=1)
    argv = record.read_text().splitlines()
    port = argv[argv.index("--port") + 1]
    assert argv == [a.format(model=model, port=port) for a in expected]
