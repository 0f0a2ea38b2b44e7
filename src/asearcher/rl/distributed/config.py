"""The config of the processes beyond one: where they go (`cluster.*`, with the GPU allocation syntax)
and the multi-process trainer (`fsdp.*`). Plain dataclasses, no torch and no Ray: `TrainConfig` composes
them, and a run's config is checked before any process starts.

The GPU allocation uses AReaL's notation, which the paper's recipes quote:

    <server>.d<D>p<P>t<T>+d<D>p<P>t<T>
     generation: D engine replicas (data parallel), each a server on P x T GPUs
                 (pipeline x tensor parallel, all on one node)
     training:   D x P x T trainer GPUs (P = T = 1 here: D FSDP2 ranks, one GPU each)

e.g. `vllm.d6p1t1+d2p1t1` on one 8-GPU node: six single-GPU vLLM servers and two trainer GPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from asearcher.config import cfg
from asearcher.errors import UserError

Server = Literal["transformers", "vllm", "sglang"]
SERVERS = ("vllm", "sglang")
_DIMS = re.compile(r"d(\d+)p(\d+)t(\d+)")


@dataclass(frozen=True)
class ParallelDims:
    """Data, pipeline and tensor parallel sizes of one part of the allocation."""

    dp: int
    pp: int
    tp: int

    @property
    def gpus(self) -> int:
        return self.dp * self.pp * self.tp


@dataclass(frozen=True)
class Allocation:
    """A parsed `cluster.allocation`: which server generates, and the two GPU splits."""

    server: Server
    gen: ParallelDims
    train: ParallelDims

    @property
    def gpus(self) -> int:
        return self.gen.gpus + self.train.gpus


def _dims(text: str, spec: str) -> ParallelDims:
    m = _DIMS.fullmatch(text)
    if m is None:
        raise UserError(f"cluster.allocation={spec!r}: {text!r} is not d<D>p<P>t<T> (e.g. d4p1t2)")
    dims = ParallelDims(*(int(g) for g in m.groups()))
    if min(dims.dp, dims.pp, dims.tp) < 1:
        raise UserError(f"cluster.allocation={spec!r}: every size in {text!r} must be >= 1")
    return dims


def parse_allocation(spec: str) -> Allocation:
    """`'sglang.d24p1t1+d8p1t1'` -> Allocation(server='sglang', gen=(24, 1, 1), train=(8, 1, 1))."""
    server, dot, rest = spec.partition(".")
    if not dot or server not in SERVERS:
        raise UserError(f"cluster.allocation={spec!r}: must start with one of {', '.join(s + '.' for s in SERVERS)} "
                        "(the server that generates), e.g. 'vllm.d6p1t1+d2p1t1'")
    parts = rest.split("+")
    if len(parts) != 2:
        raise UserError(f"cluster.allocation={spec!r}: expected generation+training, e.g. 'vllm.d6p1t1+d2p1t1'")
    return Allocation(server, _dims(parts[0], spec), _dims(parts[1], spec))  # type: ignore[arg-type]


@dataclass
class FSDPConfig:
    """The multi-process trainer (PyTorch FSDP2); docs/scale-out.md, "FSDP2 trainer"."""

    mode: Literal["auto", "on", "off"] = cfg(
        "auto", "auto: FSDP2 when the trainer runs in more than one process (torchrun, or several Ray trainer "
        "workers), else the single-process trainer; on: FSDP2 even in one process; off: never.")
    param_dtype: Literal["auto", "float32", "bfloat16"] = cfg(
        "auto", "Dtype parameters are gathered and computed in (master weights and AdamW stay float32); "
        "auto = bfloat16 on CUDA, float32 on CPU.")
    reduce_dtype: Literal["float32", "bfloat16"] = cfg("float32", "Dtype gradients are reduce-scattered in.")
    gradient_checkpointing: bool = cfg(False, "Recompute decoder-layer activations in the backward pass (HF "
                                       "gradient checkpointing, non-reentrant): less memory, ~30% more compute.")
    reshard_after_forward: bool = cfg(True, "Free gathered parameters after each layer's forward (ZeRO-3); false "
                                      "keeps them until the backward (ZeRO-2 like: faster, more memory).")
    backend: Literal["auto", "nccl", "gloo"] = cfg("auto", "torch.distributed backend; auto = nccl on CUDA, gloo on "
                                                   "CPU.")


@dataclass
class ClusterConfig:
    """Where the run's processes go: 'local' = everything in this process (the default, no Ray needed);
    'ray' = engines, rollout executor and trainer as Ray actors placed from the keys below
    (rl/distributed/placement.py, rl/distributed/ray_launcher.py, docs/scale-out.md); 'slurm' = start Ray inside the
    allocation, then run with backend=ray and the head's address."""

    backend: Literal["local", "slurm", "ray"] = cfg(
        "local", "Launcher: local (this process, no Ray), ray (Ray actors; pip install asearcher[ray]) or slurm "
        "(start Ray inside the allocation, then backend=ray with cluster.ray_address; see docs/scale-out.md).")
    ray_address: str = cfg("", "backend=ray: the cluster to join ('auto' = the one `ray start` runs on this node, or "
                           "the head's HOST:PORT); empty = start a private Ray on this machine for the run.")
    n_nodes: int = cfg(1, "Nodes (checked against cluster.allocation).")
    gpus_per_node: int = cfg(0, "GPUs per node (0 on CPU).")
    allocation: str = cfg("", "GPU split AReaL style, '<server>.d<D>p<P>t<T>+d<D>p<P>t<T>': generation by D "
                          "vllm/sglang servers of P x T GPUs (pipeline x tensor parallel), then D x P x T trainer "
                          "GPUs, e.g. 'vllm.d6p1t1+d1p1t1'; empty = CPU actors (cluster.engines transformers "
                          "engines).")
    engines: int = cfg(1, "backend=ray without allocation: engine actors (in-process transformers engines), "
                       "routed per trajectory.")
    engine_cpus: float = cfg(1.0, "backend=ray: CPUs reserved per engine actor (fractions allowed).")
    trainer_workers: int = cfg(1, "backend=ray without allocation: trainer actors; more than 1 = the FSDP2 trainer "
                               "sharded over them (gloo on CPU). With an allocation its training part sets this.")
    trainer_cpus: float = cfg(1.0, "backend=ray: CPUs reserved per trainer actor.")
    rollout_cpus: float = cfg(1.0, "backend=ray: CPUs reserved for the rollout actor (executor, agents, tools, "
                              "orchestrator).")
    retrieval_server: bool = cfg(False, "backend=ray: serve the retriever (an index folder or the embedded BM25) "
                                 "over HTTP from its own actor; the tools query it.")
    retrieval_cpus: float = cfg(1.0, "backend=ray with retrieval_server: CPUs reserved for it.")
    num_cpus: int = cfg(0, "Private Ray only (empty ray_address): logical CPUs it offers; 0 = max(os.cpu_count(), "
                        "what the actors reserve).")
    object_store_mb: int = cfg(500, "Private Ray only: object-store size in MB (Ray's default reserves ~30% of RAM "
                               "as shared memory; trajectories and stats are small, weights go through disk).")

    def validate(self) -> None:
        if self.n_nodes < 1 or self.gpus_per_node < 0:
            raise UserError(f"cluster.n_nodes must be >= 1 and cluster.gpus_per_node >= 0, got {self.n_nodes}, "
                            f"{self.gpus_per_node}")
        if self.engines < 1:
            raise UserError(f"cluster.engines must be >= 1, got {self.engines}")
        if self.trainer_workers < 1:
            raise UserError(f"cluster.trainer_workers must be >= 1, got {self.trainer_workers}")
        for name in ("engine_cpus", "trainer_cpus", "rollout_cpus", "retrieval_cpus"):
            if getattr(self, name) < 0:
                raise UserError(f"cluster.{name} must be >= 0, got {getattr(self, name)}")
        if self.num_cpus < 0:
            raise UserError(f"cluster.num_cpus must be >= 0, got {self.num_cpus}")
        if self.object_store_mb < 100:
            raise UserError(f"cluster.object_store_mb must be >= 100 (Ray's minimum is ~75 MB), got "
                            f"{self.object_store_mb}")
        if self.allocation:
            parse_allocation(self.allocation)  # syntax only; the GPU totals are checked when Ray is launched
