"""Declarative placement of a training run's processes (`cluster.*` keys) -> a checked `RayPlan`.

No Ray import here: the plan is computed and validated before Ray starts (and in unit tests without
Ray). `rl/distributed/ray_launcher.py` turns it into actors.

The allocation's syntax is in rl/distributed/config.py. With no
allocation (CPU runs) the engines are in-process transformers engines, `cluster.engines` of them, and
the trainer runs in `cluster.trainer_workers` actors (more than one: FSDP2 over gloo).
"""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.errors import UserError
from asearcher.rl.distributed.config import ClusterConfig, Server, parse_allocation


@dataclass(frozen=True)
class RayPlan:
    """What the Ray launcher starts. Resources are per actor; fractional CPUs are allowed.

    Attributes:
        server: what an engine actor runs: an in-process transformers engine, or a vLLM / SGLang
            server it owns (started on the actor's GPUs, addressed over HTTP from inside the actor).
        engines: engine actors (data-parallel generation replicas); the rollout side routes over them.
        engine_cpus, engine_gpus: per engine actor; engine_gpus = pp * tp of the generation part.
        engine_tp, engine_pp: tensor / pipeline parallel size of each engine's server.
        trainer_workers, trainer_cpus, trainer_gpus: trainer actors (more than one: the ranks of the FSDP2
            trainer) and per-actor resources.
        rollout_cpus: the rollout actor (executor, agents, tools, orchestrator).
        retrieval_cpus: the retrieval-server actor; 0 = no such actor (tools search in-process).
    """

    server: Server
    engines: int
    engine_cpus: float
    engine_gpus: int
    engine_tp: int
    engine_pp: int
    trainer_workers: int
    trainer_cpus: float
    trainer_gpus: int
    rollout_cpus: float
    retrieval_cpus: float

    @property
    def total_cpus(self) -> float:
        return (self.engines * self.engine_cpus + self.trainer_workers * self.trainer_cpus + self.rollout_cpus
                + self.retrieval_cpus)

    @property
    def total_gpus(self) -> int:
        return self.engines * self.engine_gpus + self.trainer_workers * self.trainer_gpus

    def trainer_bundles(self) -> list[dict[str, float]]:
        """The placement group of the trainer ranks: one bundle per rank (its CPUs and GPU), packed on as few
        nodes as fit so the FSDP2 collectives stay on fast links; [] when a rank reserves nothing."""
        bundle = {k: v for k, v in (("CPU", self.trainer_cpus), ("GPU", self.trainer_gpus)) if v}
        return [dict(bundle) for _ in range(self.trainer_workers)] if bundle else []

    def describe(self) -> str:
        """One line per actor kind, for the log and `--help`-style summaries."""
        eng = f"{self.engines} x engine ({self.server}, {self.engine_cpus:g} CPU, {self.engine_gpus} GPU"
        eng += f", tp {self.engine_tp}, pp {self.engine_pp})" if self.engine_gpus else ")"
        lines = [eng, f"{self.trainer_workers} x trainer ({self.trainer_cpus:g} CPU, {self.trainer_gpus} GPU)",
                 f"1 x rollout ({self.rollout_cpus:g} CPU: executor, agents, tools, orchestrator)"]
        if self.retrieval_cpus:
            lines.append(f"1 x retrieval server ({self.retrieval_cpus:g} CPU)")
        return "; ".join(lines)


def make_plan(cluster: ClusterConfig) -> RayPlan:
    """The actors of a `cluster.backend=ray` run, checked against what this launcher can run.

    More than one trainer worker means the FSDP2 trainer (rl/distributed/fsdp_trainer.py), one rank per actor: on CPU
    `cluster.trainer_workers` actors, on GPUs one actor per GPU of the allocation's training part.
    Raises UserError naming the key when the allocation does not fit the nodes, or asks for something
    not implemented (tensor / pipeline parallel training).
    """
    c = cluster
    retrieval_cpus = c.retrieval_cpus if c.retrieval_server else 0.0
    if not c.allocation:
        return RayPlan("transformers", c.engines, c.engine_cpus, 0, 1, 1, c.trainer_workers, c.trainer_cpus, 0,
                       c.rollout_cpus, retrieval_cpus)
    alloc = parse_allocation(c.allocation)
    have = c.n_nodes * c.gpus_per_node
    if alloc.gpus > have:
        raise UserError(f"cluster.allocation={c.allocation!r} needs {alloc.gpus} GPUs ({alloc.gen.gpus} generation + "
                        f"{alloc.train.gpus} training) but cluster.n_nodes x cluster.gpus_per_node = "
                        f"{c.n_nodes} x {c.gpus_per_node} = {have}")
    per_engine = alloc.gen.pp * alloc.gen.tp
    if per_engine > c.gpus_per_node:
        raise UserError(f"cluster.allocation={c.allocation!r}: one engine spans {per_engine} GPUs (p x t) but a node "
                        f"has cluster.gpus_per_node={c.gpus_per_node}; an engine server stays on one node")
    per_node = c.gpus_per_node // per_engine  # servers stay on one node: the nodes must hold them whole
    if alloc.gen.dp > c.n_nodes * per_node:
        raise UserError(f"cluster.allocation={c.allocation!r}: {alloc.gen.dp} servers of {per_engine} GPUs fit "
                        f"{per_node} per node of cluster.gpus_per_node={c.gpus_per_node}, so "
                        f"cluster.n_nodes={c.n_nodes} holds only {c.n_nodes * per_node}")
    if alloc.train.pp != 1 or alloc.train.tp != 1:
        d = alloc.train.gpus
        raise UserError(f"cluster.allocation={c.allocation!r}: the training part must be d<N>p1t1 (the FSDP2 trainer "
                        f"shards one data-parallel group, one GPU per rank; pipeline / tensor parallel training is "
                        f"not implemented): use d{d}p1t1 for {d} trainer GPUs")
    if c.trainer_workers != 1:
        raise UserError(f"cluster.trainer_workers={c.trainer_workers} is for runs without an allocation; with "
                        f"cluster.allocation={c.allocation!r} the training part sets the trainer GPUs (one worker each)")
    return RayPlan(alloc.server, alloc.gen.dp, c.engine_cpus, per_engine, alloc.gen.tp, alloc.gen.pp, alloc.train.dp,
                   c.trainer_cpus, 1, c.rollout_cpus, retrieval_cpus)
