"""`cluster.backend=ray`: the same asynchronous RL loop with its components as Ray actors.

    driver (asearcher train)          starts / joins Ray, places the actors of `make_plan(config.cluster)`,
      |                               waits for the rollout actor's result; Ctrl-C -> cancel -> checkpoint
      +-- EngineWorker x N            generation (in-process transformers on CPU; a vLLM / SGLang server on GPUs)
      +-- TrainerWorker               PPO updates; writes <run>/weights/v<N>/ and checkpoints
          or FSDPTrainerWorker x M    the same with several trainer workers: the ranks of one FSDP2 group,
                                      in one placement group (PACK)
      +-- RetrievalWorker (optional)  the retrieval HTTP server
      +-- RolloutWorker               executor + agents + tools + TrainLoop (the orchestrator)

Ray only places and connects: the executor, trainer, staleness control and weight sync are the local
mode's classes (rl/distributed/ray_actors.py, rl/distributed/ray_clients.py). The run folder must be
visible at the same path to every actor (one machine, or a shared file system on a cluster): weights and
checkpoints go through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any

from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed.placement import RayPlan, make_plan

logger = logging.getLogger(__name__)

RAY_HINT = "pip install 'asearcher[ray]'"
# Passed to every actor: they must read the same caches and stay as offline as the driver.
FORWARDED_ENV = ("ASEARCHER_HOME", "ASEARCHER_DATA", "ASEARCHER_LOG_LEVEL", "HF_HOME", "HF_HUB_OFFLINE",
                 "TRANSFORMERS_OFFLINE", "OPENAI_API_KEY", "SERPER_API_KEY")


def import_ray() -> Any:
    """The `ray` module, or a UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(f"cluster.backend=ray needs the optional package ray: {RAY_HINT}") from None
    return ray


def _absolute(spec: str) -> str:
    """A path that exists here, made absolute (actors do not share the driver's working directory)."""
    return str(Path(spec).resolve()) if spec and Path(spec).exists() else spec


def actor_config(config: TrainConfig) -> TrainConfig:
    """The config the actors get: the model resolved to an HF folder (a .gguf converted once, here, not by
    every actor at once) and local paths made absolute."""
    from asearcher.engines.embedded import embedded_model_path, resolve_model_dir

    model_dir = resolve_model_dir(config.model or str(embedded_model_path())).resolve()
    data = dataclasses.replace(config.data, train=_absolute(config.data.train), data_root=_absolute(config.data.data_root))
    held_out = dataclasses.replace(config.eval, data=_absolute(config.eval.data))
    return dataclasses.replace(config, model=str(model_dir), retriever=_absolute(config.retriever), data=data,
                               eval=held_out, out_dir=_absolute(config.out_dir))


def init_ray(ray: Any, config: TrainConfig, plan: RayPlan) -> bool:
    """Join `cluster.ray_address`, or start a private local Ray; True when this call started it."""
    c = config.cluster
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    if ray.is_initialized():
        return False
    if c.ray_address:
        ray.init(address=c.ray_address, runtime_env={"env_vars": env}, log_to_driver=True)
        return False
    num_cpus = c.num_cpus or max(os.cpu_count() or 1, math.ceil(plan.total_cpus))
    ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=c.object_store_mb * 2**20,
             runtime_env={"env_vars": env}, log_to_driver=True)
    return True


def check_resources(ray: Any, plan: RayPlan) -> None:
    """Fail now, naming the keys, instead of leaving actors pending forever on a too-small cluster."""
    have = ray.cluster_resources()
    cpus, gpus = float(have.get("CPU", 0)), float(have.get("GPU", 0))
    if plan.total_cpus > cpus + 1e-9 or plan.total_gpus > gpus + 1e-9:
        raise UserError(f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs but the plan needs {plan.total_cpus:g} "
                        f"CPUs and {plan.total_gpus} GPUs ({plan.describe()}): lower cluster.*_cpus / "
                        "cluster.engines / cluster.trainer_workers / cluster.allocation, or raise cluster.num_cpus "
                        "for a private Ray")


def check_retrieval_server(config: TrainConfig) -> None:
    """cluster.retrieval_server serves an index folder (or the embedded BM25), never a URL or the web."""
    if config.retriever == "web" or config.retriever.startswith(("http://", "https://")):
        raise UserError(f"cluster.retrieval_server=true serves an index folder, but retriever={config.retriever!r}")


def _unwrap(e: BaseException) -> BaseException:
    """A UserError raised inside an actor reaches the CLI as itself (message, exit 2), not as a traceback."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, UserError) else e


async def _start_trainers(ray: Any, config: TrainConfig, plan: RayPlan, run_dir: Path, actors: list[Any],
                          also: list[Any]) -> list[Any]:
    """The trainer actors, ready (awaited together with `also`, the engines' readiness: load errors surface
    here). One TrainerWorker, or with FSDP2 (several workers, or fsdp.mode=on) one FSDPTrainerWorker per rank:
    rank 0 picks the rendezvous (its node's address, a free port), then every rank joins the group and
    builds its shard at once (joining waits for all ranks)."""
    from asearcher.rl.distributed import ray_actors as A
    from asearcher.rl.distributed.torchrun import uses_fsdp

    weights = str(run_dir / "weights")
    n = plan.trainer_workers
    if not uses_fsdp(config, n):
        trainer = ray.remote(A.TrainerWorker).options(num_cpus=plan.trainer_cpus, num_gpus=plan.trainer_gpus).remote(
            config, config.model, weights)
        actors.append(trainer)
        await asyncio.gather(trainer.ready.remote(), *also)
        return [trainer]
    cls = ray.remote(A.FSDPTrainerWorker)
    options: list[dict[str, Any]] = [{"num_cpus": plan.trainer_cpus, "num_gpus": plan.trainer_gpus}] * n
    if bundles := plan.trainer_bundles():
        # Rank r in bundle r of one PACK placement group: reserved together, on as few nodes as fit.
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = placement_group(bundles, strategy="PACK")
        actors.append(group)  # removed by _close
        await group.ready()
        options = [{**options[r], "scheduling_strategy": PlacementGroupSchedulingStrategy(group, r)} for r in range(n)]
    ranks = [cls.options(**options[rank]).remote(config, config.model, weights, rank, n) for rank in range(n)]
    actors.extend(ranks)
    addr, port = await ranks[0].rendezvous.remote()
    logger.info("FSDP2 trainer: %d ranks, rendezvous %s:%d", n, addr, port)
    await asyncio.gather(*(r.join.remote(addr, port) for r in ranks), *also)
    return ranks


async def _run(ray: Any, config: TrainConfig, plan: RayPlan, run_dir: Path, resume: bool, progress: bool,
               actors: list[Any], engines: list[Any]) -> Any:
    """Start the actors (appended to `actors` / `engines` as they are created, for `_close`), run, return."""
    from asearcher.rl.distributed import ray_actors as A

    if plan.retrieval_cpus:
        check_retrieval_server(config)
        server = ray.remote(A.RetrievalWorker).options(num_cpus=plan.retrieval_cpus).remote(config.retriever or None)
        actors.append(server)
        config = dataclasses.replace(config, retriever=await server.url.remote())
        logger.info("retrieval server actor at %s", config.retriever)
    engine_cls = ray.remote(A.EngineWorker).options(num_cpus=plan.engine_cpus, num_gpus=plan.engine_gpus)
    engines.extend(engine_cls.remote(config, config.model, plan.server, plan.engine_tp, plan.engine_pp)
                   for _ in range(plan.engines))
    actors.extend(engines)
    trainers = await _start_trainers(ray, config, plan, run_dir, actors, [e.ready.remote() for e in engines])
    rollout = ray.remote(A.RolloutWorker).options(num_cpus=plan.rollout_cpus).remote(
        config, str(run_dir), engines, trainers, progress)
    actors.append(rollout)
    ref = rollout.arun.remote(resume)
    try:
        return await ref
    except asyncio.CancelledError:
        # Ctrl-C: cancel the rollout actor's run, which finishes the step in progress and checkpoints.
        # Not recursive: the trainer's step in flight must complete (the loop counts it, as locally) and
        # the checkpoint is written by a call the cancelled run makes afterwards.
        ray.cancel(ref, recursive=False)
        try:
            await ref
        except (ray.exceptions.TaskCancelledError, ray.exceptions.RayTaskError, asyncio.CancelledError):
            pass
        raise


async def _close(ray: Any, actors: list[Any], engines: list[Any]) -> None:
    """Close the engines (a server's processes are stopped by its actor, not by ray.kill), then end every
    actor and placement group this run started."""
    if engines:
        try:
            results = await asyncio.wait_for(asyncio.gather(*(e.aclose.remote() for e in engines),
                                                            return_exceptions=True), 60)
            for r in results:
                if isinstance(r, BaseException):
                    logger.warning("closing an engine actor failed: %s", r)
        except TimeoutError:
            logger.warning("engine actors did not close within 60 s; killing them")
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    for a in actors:
        if not isinstance(a, PlacementGroup):
            ray.kill(a)
    for a in actors:
        if isinstance(a, PlacementGroup):
            remove_placement_group(a)  # after its actors: a joined cluster keeps it past this run otherwise


async def atrain_ray(config: TrainConfig, run_dir: Path, resume: bool = False, progress: bool = True) -> Any:
    """Run the RL phase of `atrain` on Ray (the TrainResult of the rollout actor's TrainLoop)."""
    from asearcher.rl.distributed.torchrun import uses_fsdp

    plan = make_plan(config.cluster)
    uses_fsdp(config, plan.trainer_workers)  # fsdp.mode=off with several trainer workers: a UserError, before Ray
    ray = import_ray()
    config = actor_config(config)
    run_dir = Path(run_dir).resolve()
    started = init_ray(ray, config, plan)
    actors: list[Any] = []
    engines: list[Any] = []
    try:
        check_resources(ray, plan)
        logger.info("Ray plan: %s", plan.describe())
        try:
            return await _run(ray, config, plan, run_dir, resume, progress, actors, engines)
        except ray.exceptions.RayTaskError as e:
            raise _unwrap(e) from None
    finally:
        await _close(ray, actors, engines)
        if started:
            ray.shutdown()
