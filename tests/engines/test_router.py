"""RoutedEngine over several engines: fake SGLang servers (fake_sglang_server.py; SGLang itself needs a
GPU) for failure injection, and real in-process TransformersEngines on a tiny random model."""

import asyncio

import pytest
import torch
from fake_sglang_server import FakeSGLangServer, next_token
from tiny_model import tiny_llama

from asearcher.api import GenRequest, InferenceEngine
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.config import EngineConfig
from asearcher.engines.router import NoHealthyEngine, RoutedEngine, WeightUpdateError
from asearcher.engines.sglang_engine import SGLangEngine
from asearcher.engines.transformers_engine import TransformersEngine

PROMPT = list(b"Q: who? ")


@pytest.fixture
def servers():
    srvs = [FakeSGLangServer(token_delay_s=0.01) for _ in range(3)]
    yield srvs
    for s in srvs:
        s.stop()


def engines_for(servers):
    return [SGLangEngine(s.url, EngineConfig(retries=0), tokenizer=ByteTokenizer()) for s in servers]


def generate_rids(server) -> list[str]:
    """Trajectory ids (the GenRequest.rid part of the server-side rid) a server has seen."""
    return [body["rid"].rsplit("-", 1)[0] for path, body in server.seen if path == "/generate"]


async def test_turns_stick_to_one_server_and_new_trajectories_spread(servers) -> None:
    router = RoutedEngine(engines_for(servers), health_interval_s=0)
    assert isinstance(router, InferenceEngine)

    async def trajectory(tid: str) -> None:
        ctx = list(PROMPT)
        for _turn in range(3):
            res = await router.agenerate(GenRequest(input_ids=ctx, max_new_tokens=8, rid=tid))
            ctx += res.output_ids + list(b" obs ")

    await asyncio.gather(*(trajectory(f"traj{i}") for i in range(3)))
    # Three concurrent new trajectories on three idle servers: one each (least loaded).
    owners = {}
    for idx, srv in enumerate(servers):
        rids = generate_rids(srv)
        assert len(set(rids)) == 1 and len(rids) == 3  # all three turns of one trajectory
        owners[rids[0]] = idx
    assert sorted(owners) == ["traj0", "traj1", "traj2"]
    await router.aclose()


async def test_dead_server_request_retried_elsewhere_and_health_brings_it_back(servers) -> None:
    router = RoutedEngine(engines_for(servers[:2]), health_interval_s=0)
    # Pin the trajectory to server 0, then kill it mid-generation.
    first = await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=4, rid="t"))
    assert generate_rids(servers[0]) == ["t"]
    ctx = PROMPT + first.output_ids
    task = asyncio.create_task(router.agenerate(GenRequest(input_ids=ctx, max_new_tokens=30, rid="t")))
    await servers[0].await_tokens(3)
    servers[0].kill()
    res = await task
    # Retried from scratch with the full context on server 1: a complete, consistent result.
    assert res.finish_reason == "length" and len(res.output_ids) == 30
    out: list[int] = []
    for _ in range(30):
        out.append(next_token("init", ctx + out))
    assert res.output_ids == out
    assert generate_rids(servers[1]) == ["t"]
    assert router.healthy == [False, True]
    # New trajectories avoid the dead server; a passing health check brings it back.
    await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2, rid="new"))
    assert generate_rids(servers[1]) == ["t", "new"]
    servers[0].revive()
    assert await router.acheck_health() == [True, True]
    await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2, rid="after"))
    assert generate_rids(servers[0])[-1] == "after"
    await router.aclose()


async def test_all_servers_dead_raises(servers) -> None:
    router = RoutedEngine(engines_for(servers[:2]), health_interval_s=0)
    for s in servers[:2]:
        s.kill()
    with pytest.raises(NoHealthyEngine):
        await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2, rid="x"))
    await router.aclose()


async def test_background_health_checks_run(servers) -> None:
    router = RoutedEngine(engines_for(servers[:2]), health_interval_s=0.05)
    await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=1, rid="a"))  # starts the checks
    servers[1].kill()
    for _ in range(200):
        if router.healthy == [True, False]:
            break
        await asyncio.sleep(0.02)
    assert router.healthy == [True, False]
    await router.aclose()


async def test_version_switches_only_when_every_server_updated(servers) -> None:
    router = RoutedEngine(engines_for(servers[:2]), health_interval_s=0)
    servers[1].fail_update = True
    with pytest.raises(WeightUpdateError, match="server 1"):
        await router.aupdate_weights("/ckpt/1", version=1)
    assert router.version == 0 and router.stale == [False, True]
    # The server still on the old weights is out of rotation: new work goes to the updated one.
    res = await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=2, rid="n"))
    assert res.versions == [1, 1] and generate_rids(servers[1]) == []
    servers[1].fail_update = False
    await router.aupdate_weights("/ckpt/2", version=2)
    assert router.version == 2 and router.stale == [False, False]
    assert all(s.weights == "/ckpt/2" for s in servers[:2])
    await router.aclose()


async def test_update_resumes_in_flight_generations_on_every_server(servers) -> None:
    router = RoutedEngine(engines_for(servers[:2]), health_interval_s=0)
    tasks = [asyncio.create_task(router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=40, rid=f"r{i}")))
             for i in range(2)]
    for s in servers[:2]:
        await s.await_tokens(3)
    await router.aupdate_weights("/ckpt/1", version=1)
    for res in await asyncio.gather(*tasks):
        assert len(res.output_ids) == 40 and res.versions[0] == 0 and res.versions[-1] == 1
    assert [s.running_at_update for s in servers[:2]] == [[0], [0]]
    await router.aclose()


async def test_routes_over_real_transformers_engines() -> None:
    engines = [TransformersEngine(tiny_llama(seed=0), ByteTokenizer()) for _ in range(2)]
    router = RoutedEngine(engines, health_interval_s=0)
    reqs = [GenRequest(input_ids=PROMPT, max_new_tokens=5, temperature=0.0, rid=f"g{i}") for i in range(4)]
    results = await asyncio.gather(*(router.agenerate(r) for r in reqs))
    assert sorted(router._affinity.values()) == [0, 0, 1, 1]  # least-loaded spread
    assert all(r.output_ids == results[0].output_ids for r in results)  # same weights, greedy
    new_state = {k: v + 0.05 * torch.randn_like(v) for k, v in tiny_llama(seed=0).state_dict().items()}
    await router.aupdate_weights(new_state, version=3)  # type: ignore[arg-type]
    assert router.version == 3 and all(e.version == 3 for e in engines)
    again = await router.agenerate(GenRequest(input_ids=PROMPT, max_new_tokens=5, temperature=0.0, rid="g0"))
    assert again.versions == [3] * 5
    await router.aclose()
