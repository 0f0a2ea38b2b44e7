"""cluster.* keys -> RayPlan (no Ray needed): allocation syntax, GPU totals, what the launcher refuses, and
the user-facing errors of backend=slurm and of backend=ray without Ray installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from asearcher.config import load_config
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed.config import Allocation, ClusterConfig, ParallelDims, parse_allocation
from asearcher.rl.distributed.placement import make_plan


def test_parse_allocation_reads_the_papers_notation():
    a = parse_allocation("sglang.d24p1t1+d8p1t1")
    assert a == Allocation("sglang", ParallelDims(24, 1, 1), ParallelDims(8, 1, 1)) and a.gpus == 32
    b = parse_allocation("vllm.d64p1t2+d32p2t1")
    assert (b.gen.gpus, b.train.gpus) == (128, 64)


@pytest.mark.parametrize("spec, gen, train", [
    ("sglang.d2t8+d4t8", (2, 1, 8), (4, 1, 8)),       # asearcher_web_qwq.yaml: missing sizes are 1
    ("sglang.d2t4p1+d1", (2, 1, 4), (1, 1, 1)),       # any order (ASearcher's judge server: sglang.d2t4p1)
    ("d8p1t1+vllm.t2d3p1", (3, 1, 2), (8, 1, 1)),     # the generation part second, as AReaL's regex allowed
    ("sglang:d4t2+fsdp:d8", (4, 1, 2), (8, 1, 1)),    # AReaL's newer spelling
    (" vllm.d4p1 + d1p1t1 ", (4, 1, 1), (1, 1, 1)),   # whitespace ignored
])
def test_parse_allocation_reads_areals_other_forms(spec, gen, train):
    a = parse_allocation(spec)
    assert (a.gen, a.train) == (ParallelDims(*gen), ParallelDims(*train))


@pytest.mark.parametrize("bad, why", [
    ("d4p1t1+d1p1t1", "generation part"), ("tgi.d4p1t1+d1p1t1", "generation part"),
    ("vllm.d4p1t1", "server-only"), ("vllm.d0p1t1+d1p1t1", ">= 1"),
    ("vllm.d4p1t1+d1p1t1+d1p1t1", "joined by"), ("vllm.d4d2+d1", "appears twice"), ("vllm.d4x2+d1", "unknown size"),
    ("vllm.d4p1t1|d4p1t1", "colocation"), ("sglang.d4+eval", "evaluation-only"), ("vllm.d2+megatron:d2", "megatron"),
    ("vllm.d2+d2c2", "context parallelism"), ("vllm.d2+d2e2", "expert parallelism"), ("vllm.4+d2", "not a list"),
])
def test_bad_allocation_is_a_user_error_naming_the_key(bad, why):
    with pytest.raises(UserError, match=rf"cluster.allocation=.*{why}"):
        load_config(TrainConfig, None, [f"cluster.allocation={bad}"])


def test_sglang_allocations_plan_sglang_servers():
    """The paper's recipes generate with SGLang: the launcher plans SGLang server actors for them."""
    plan = make_plan(ClusterConfig(backend="ray", n_nodes=6, gpus_per_node=8, allocation="sglang.d2t8+d32"))
    assert (plan.server, plan.engines, plan.engine_gpus, plan.engine_tp, plan.trainer_workers) == ("sglang", 2, 8, 8,
                                                                                                 32)


def test_cpu_plan_without_allocation():
    c = ClusterConfig(backend="ray", engines=3, engine_cpus=0.5, trainer_cpus=2, rollout_cpus=1)
    plan = make_plan(c)
    assert (plan.server, plan.engines, plan.engine_gpus, plan.trainer_workers, plan.trainer_gpus) == (
        "transformers", 3, 0, 1, 0)
    assert plan.total_cpus == 4.5 and plan.total_gpus == 0 and plan.retrieval_cpus == 0
    assert make_plan(ClusterConfig(retrieval_server=True, retrieval_cpus=2)).total_cpus == 5


def test_gpu_plan_from_allocation():
    c = ClusterConfig(backend="ray", n_nodes=1, gpus_per_node=8, allocation="vllm.d3p1t2+d1p1t1")
    plan = make_plan(c)
    assert (plan.server, plan.engines, plan.engine_gpus, plan.engine_tp, plan.engine_pp) == ("vllm", 3, 2, 2, 1)
    assert (plan.trainer_workers, plan.trainer_gpus, plan.total_gpus) == (1, 1, 7)
    assert "3 x engine (vllm" in plan.describe()


def test_several_trainer_gpus_become_fsdp_ranks_one_gpu_each():
    plan = make_plan(ClusterConfig(backend="ray", n_nodes=2, gpus_per_node=8, allocation="vllm.d12p1t1+d4p1t1"))
    assert (plan.engines, plan.trainer_workers, plan.trainer_gpus, plan.total_gpus) == (12, 4, 1, 16)
    assert "4 x trainer (1 CPU, 1 GPU)" in plan.describe()
    # the paper's 16-node split (96 generation + 32 training GPUs) is now a plan the launcher runs
    big = make_plan(ClusterConfig(backend="ray", n_nodes=16, gpus_per_node=8, allocation="vllm.d96p1t1+d32p1t1"))
    assert (big.engines, big.trainer_workers, big.total_gpus) == (96, 32, 128)


def test_cpu_plan_with_several_trainer_workers():
    plan = make_plan(ClusterConfig(backend="ray", engines=1, engine_cpus=0.5, trainer_workers=2, trainer_cpus=0.5,
                                   rollout_cpus=0.5))
    assert (plan.trainer_workers, plan.trainer_gpus, plan.total_cpus, plan.total_gpus) == (2, 0, 2.0, 0)
    assert "2 x trainer (0.5 CPU, 0 GPU)" in plan.describe()


async def test_several_trainer_workers_with_fsdp_off_is_refused_before_ray_starts(tmp_path, monkeypatch):
    from asearcher.rl.launch import atrain

    monkeypatch.setitem(sys.modules, "ray", None)  # the check comes first: it needs no Ray
    config = load_config(TrainConfig, None, ["cluster.backend=ray", "cluster.trainer_workers=2", "fsdp.mode='off'",
                                             f"out_dir={tmp_path}"])
    with pytest.raises(UserError, match="fsdp.mode=off but the trainer runs in 2 processes"):
        await atrain(config, tmp_path / "run", progress=False)


@pytest.mark.parametrize("cluster, match", [
    ({"n_nodes": 1, "gpus_per_node": 8, "allocation": "vllm.d8p1t1+d1p1t1"}, "needs 9 GPUs"),
    ({"n_nodes": 4, "gpus_per_node": 4, "allocation": "vllm.d1p1t8+d1p1t1"}, "one node"),
    ({"n_nodes": 1, "gpus_per_node": 8, "allocation": "vllm.d4p1t1+d1p1t2"}, "d2p1t1 for 2 trainer GPUs"),
    ({"n_nodes": 2, "gpus_per_node": 8, "allocation": "vllm.d4p1t1+d2p2t1"}, "must be d<N>p1t1"),
    ({"n_nodes": 1, "gpus_per_node": 8, "allocation": "vllm.d4p1t1+d2p1t1", "trainer_workers": 3},
     "cluster.trainer_workers=3 is for runs without an allocation"),
    ({"n_nodes": 1, "gpus_per_node": 0, "allocation": "vllm.d1p1t1+d1p1t1"}, "cluster.gpus_per_node"),
])
def test_plans_the_launcher_cannot_run_are_refused(cluster, match):
    with pytest.raises(UserError, match=match):
        make_plan(ClusterConfig(backend="ray", **cluster))


@pytest.mark.parametrize("key", ["cluster.engines=0", "cluster.trainer_workers=0", "cluster.engine_cpus=-1", "cluster.object_store_mb=10",
                                 "cluster.num_cpus=-2"])
def test_bad_cluster_values_name_the_key(key):
    with pytest.raises(UserError, match=key.split("=")[0]):
        load_config(TrainConfig, None, [key])


async def test_slurm_backend_says_how_to_run_on_slurm(tmp_path):
    from asearcher.rl.launch import atrain

    config = load_config(TrainConfig, None, ["cluster.backend=slurm", f"out_dir={tmp_path}"])
    with pytest.raises(UserError, match="ray start --head"):
        await atrain(config, tmp_path / "run", progress=False)


async def test_ray_backend_without_ray_installed_names_the_extra(tmp_path, monkeypatch):
    from asearcher.rl.launch import atrain

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    config = load_config(TrainConfig, None, ["cluster.backend=ray", f"out_dir={tmp_path}"])
    with pytest.raises(UserError, match=r"asearcher\[ray\]"):
        await atrain(config, tmp_path / "run", progress=False)


def test_local_mode_modules_do_not_import_ray():
    code = ("import sys; import asearcher.cli, asearcher.cli.train, asearcher.rl.launch, asearcher.rl.run.train_loop, "
            "asearcher.rl.distributed.ray_clients, asearcher.rl.distributed.ray_actors, "
            "asearcher.rl.distributed.ray_launcher, asearcher.rl.distributed.placement; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_trainer_ranks_get_one_bundle_each_for_their_placement_group():
    gpu = make_plan(ClusterConfig(backend="ray", n_nodes=2, gpus_per_node=8, allocation="vllm.d12+d4",
                                  trainer_cpus=2))
    assert gpu.trainer_bundles() == [{"CPU": 2.0, "GPU": 1}] * 4
    cpu = make_plan(ClusterConfig(backend="ray", trainer_workers=2, trainer_cpus=0.5))
    assert cpu.trainer_bundles() == [{"CPU": 0.5}] * 2
    assert make_plan(ClusterConfig(backend="ray", trainer_workers=2, trainer_cpus=0)).trainer_bundles() == []
