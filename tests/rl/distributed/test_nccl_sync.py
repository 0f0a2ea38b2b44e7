"""NcclWeightSync: trainer rank 0 broadcasts chunked weights to inference servers in other processes.

On CPU the group runs on gloo: the same code path as NCCL except the backend name. The servers are
child processes (`fake_weight_server.py`: our real vLLM worker extension behind a stand-in HTTP layer,
or SGLang's documented receive semantics), so the receiving ranks really are other processes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch
from fake_weight_server import make_model

from asearcher.engines.config import EngineConfig
from asearcher.engines.router import RoutedEngine, WeightUpdateError
from asearcher.engines.sglang_engine import SGLangEngine
from asearcher.engines.vllm_engine import VLLMEngine
from asearcher.engines.weight_stream import ALIGN, TensorMeta, bucket_layout
from asearcher.rl.distributed.nccl_sync import NcclWeightSync, plan_chunks
from asearcher.rl.train.weight_sync import WeightsSnapshot

HERE = Path(__file__).parent
CHUNK = 2048  # bytes: the fake model's ~4.5 KB of weights go in several chunks


class Server:
    def __init__(self, kind: str, env: dict[str, str] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(env or {}),
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_weight_server.py"), kind, str(self.port)],
                                     env=env)
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, "fake server exited"
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "fake server did not start"
            time.sleep(0.2)

    def weights(self, tmp_path: Path) -> dict[str, torch.Tensor]:
        path = tmp_path / f"server-{self.port}.pt"
        httpx.post(self.url + "/debug/save", json={"path": str(path)}, timeout=10).raise_for_status()
        return torch.load(path)

    def get(self, path: str):
        return httpx.get(self.url + path, timeout=10).json()

    def log(self) -> list[dict]:
        return self.get("/debug/log")

    def fail_chunk(self, index: int | None) -> None:
        httpx.post(self.url + "/debug/fail_chunk", json={"index": index}, timeout=10).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def vllm_servers():
    servers = [Server("vllm"), Server("vllm")]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def sglang_server():
    server = Server("sglang")
    yield server
    server.stop()


def trained_state(seed: int) -> dict[str, torch.Tensor]:
    """The trainer's weights: the served model's names, shapes and dtypes, other values."""
    state = make_model().state_dict()
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=gen).to(v.dtype) for k, v in state.items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k, t in a.items():
        assert t.dtype == b[k].dtype and torch.equal(t, b[k]), k


def gloo_sync(**kw) -> NcclWeightSync:
    return NcclWeightSync("127.0.0.1", 0, backend="gloo", chunk_bytes=CHUNK, timeout_s=30, **kw)


def test_plan_chunks_bounds_bytes_and_keeps_order():
    tensors = [(f"t{i}", torch.zeros(n)) for i, n in enumerate([100, 300, 50, 1000, 10])]  # fp32
    chunks = list(plan_chunks(tensors, chunk_bytes=1600))
    assert [[m.name for m, _ in c] for c in chunks] == [["t0", "t1"], ["t2"], ["t3"], ["t4"]]
    assert all(sum(m.nbytes for m, _ in c) <= 1600 for c in chunks if len(c) > 1)
    big = list(plan_chunks([("w", torch.zeros(1000))], chunk_bytes=10))  # larger than a chunk: alone
    assert len(big) == 1
    cast = list(plan_chunks([("w", torch.zeros(4)), ("ids", torch.zeros(4, dtype=torch.long))], 100, torch.bfloat16))
    assert [(m.dtype, m.nbytes) for m, _ in cast[0]] == [("bfloat16", 8), ("int64", 32)]


def test_bucket_layout_aligns_every_tensor():
    metas = [TensorMeta("a", "bfloat16", (3,)), TensorMeta("b", "float32", (5, 2)), TensorMeta("c", "int8", ())]
    offsets, total = bucket_layout(metas)
    assert offsets == [0, ALIGN, 2 * ALIGN] and total == 2 * ALIGN + 1


async def test_routed_vllm_servers_receive_exact_weights_and_switch_version_at_the_end(vllm_servers, tmp_path):
    engines = [VLLMEngine(s.url, EngineConfig(retries=0, model="m")) for s in vllm_servers]
    router = RoutedEngine(engines, health_interval_s=0)
    sync = gloo_sync()
    before = [s.weights(tmp_path) for s in vllm_servers]
    new = trained_state(1)
    await sync.apublish(WeightsSnapshot(new), 1)
    assert await sync.aupdate(router) == 1
    assert router.version == 1 and all(e.version == 1 for e in engines)
    for server, engine in zip(vllm_servers, engines, strict=True):
        assert_same(server.weights(tmp_path), new)
        assert await engine.aserver_version() == "1"
        log = server.log()
        # Several chunks, each arriving while the server still served the old weights and version:
        # nothing changed before the commit.
        assert len(log) == sync.last_stats["weight_sync/chunks"] >= 3
        assert {e["version"] for e in log} == {"0"}
        assert {e["checksum"] for e in log} == {float(sum(t.double().sum() for t in before[0].values()))}
    assert sync.last_stats["weight_sync/bytes"] == sum(t.numel() * t.element_size() for t in new.values())
    await sync.aclose()
    await router.aclose()


async def test_failure_mid_way_leaves_old_weights_and_version_then_next_update_succeeds(vllm_servers, tmp_path):
    server = vllm_servers[0]
    engine = VLLMEngine(server.url, EngineConfig(retries=0, model="m"))
    engine.version = int(await engine.aserver_version())
    sync = gloo_sync(dtype="bfloat16")  # fp32 trainer weights sent as bf16: the server's own dtypes decide
    old_version, old = engine.version, server.weights(tmp_path)
    server.fail_chunk(1)
    await sync.apublish(WeightsSnapshot(trained_state(2)), old_version + 1)
    with pytest.raises(Exception, match="injected failure"):
        await sync.aupdate(engine)
    assert engine.version == old_version and await engine.aserver_version() == str(old_version)
    assert_same(server.weights(tmp_path), old)  # chunk 0 arrived but was never loaded

    server.fail_chunk(None)
    new = trained_state(3)
    await sync.apublish(WeightsSnapshot(new), old_version + 2)  # the same group is still usable
    assert await sync.aupdate(engine) == old_version + 2
    got = server.weights(tmp_path)
    assert_same(got, {k: v.to(torch.bfloat16).to(got[k].dtype) if v.is_floating_point() else v
                      for k, v in new.items()})
    await sync.aclose()
    await engine.aclose()


async def test_sglang_receives_per_tensor_and_sets_version_with_the_last_chunk(sglang_server, tmp_path):
    engine = SGLangEngine(sglang_server.url, EngineConfig(retries=0))
    sync = gloo_sync()
    new = trained_state(4)
    await sync.apublish(WeightsSnapshot(new), 5)
    assert await sync.aupdate(engine) == 5 and engine.version == 5
    assert_same(sglang_server.weights(tmp_path), new)
    log = sglang_server.log()
    assert len(log) >= 3 and {e["version"] for e in log} == {"0"}  # version set only by the last call
    assert sglang_server.get("/get_weight_version")["weight_version"] == "5"
    await sync.aclose()
    await engine.aclose()


async def test_router_reports_a_failed_transfer_on_every_server(vllm_servers):
    engines = [VLLMEngine(s.url, EngineConfig(retries=0, model="m")) for s in vllm_servers]
    router = RoutedEngine(engines, health_interval_s=0)
    vllm_servers[1].fail_chunk(0)
    try:
        sync = gloo_sync()
        await sync.apublish(WeightsSnapshot(trained_state(5)), 9)
        with pytest.raises(WeightUpdateError):
            await sync.aupdate(router)
        assert router.version != 9 and all(e.version != 9 for e in engines)
    finally:
        vllm_servers[1].fail_chunk(None)
        await sync.aclose()
        await router.aclose()


def test_an_engine_without_collective_receive_is_refused():
    from asearcher.engines.scripted import ScriptedEngine

    sync = gloo_sync()

    async def go():
        await sync.apublish(WeightsSnapshot({"w": torch.zeros(1)}), 1)
        await sync.aupdate(ScriptedEngine([]))

    with pytest.raises(TypeError, match="cannot receive weights"):
        asyncio.run(go())


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs one GPU per rank: trainer + server")
async def test_nccl_on_gpus_receives_exact_weights(tmp_path):
    server = Server("vllm", env={"FAKE_WEIGHT_DEVICE": "cuda:1"})
    try:
        engine = VLLMEngine(server.url, EngineConfig(retries=0, model="m"))
        sync = NcclWeightSync("127.0.0.1", 0, backend="nccl", device="cuda:0", chunk_bytes=CHUNK, timeout_s=60)
        new = trained_state(6)
        await sync.apublish(WeightsSnapshot({k: v.to("cuda:0") for k, v in new.items()}), 1)
        assert await sync.aupdate(engine) == 1
        assert_same(server.weights(tmp_path), new)
        await sync.aclose()
        await engine.aclose()
    finally:
        server.stop()
