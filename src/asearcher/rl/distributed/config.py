"""The config of the processes beyond one: where they go (`cluster.*`, with the GPU allocation syntax)
and the multi-process trainer (`fsdp.*`). Plain dataclasses, no torch and no Ray: `TrainConfig` composes
them, and a run's config is checked before any process starts.

The GPU allocation uses AReaL's notation (the `allocation_mode` strings the paper's recipes quote, in
AReaL's dotted form and its newer `server:` form), parsed by our own code:

    <server>.<dims>+<dims>      e.g. sglang.d96p1t1+d32p1t1, sglang.d2t8+d4t8, vllm.d4+d4
    <dims>+<server>.<dims>      the generation part may also come second, as in AReaL
    <server>:<dims>+fsdp:<dims> AReaL's newer spelling of the same split

    <dims>: d<D>, p<P>, t<T> in any order, each at most once, a missing one = 1; whitespace is ignored.
     generation: D engine replicas (data parallel), each a server on P x T GPUs
                 (pipeline x tensor parallel, all on one node)
     training:   D x P x T trainer GPUs (P = T = 1 here: D FSDP2 ranks, one GPU each)

e.g. `vllm.d6p1t1+d2p1t1` on one 8-GPU node: six single-GPU vLLM servers and two trainer GPUs. What AReaL
also accepts but this project does not run (colocation with `|`, server-only or `+eval` allocations,
context / expert parallel `c` / `e`, Megatron training) is refused with a UserError naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from asearcher.config import cfg
from asearcher.errors import UserError

Server = Literal["transformers", "vllm", "sglang"]
SERVERS = ("vllm", "sglang")
_SERVER = re.compile(r"(vllm|sglang)[.:]")
_DIM = re.compile(r"([a-z])(\d+)")
_DIMS_TEXT = re.compile(r"(?:[a-z]\d+)+")
# Sizes AReaL's syntax has but nothing here runs (its Megatron backend does).
_NOT_RUN = {"c": "context", "e": "expert"}


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


def _dims(text: str, spec: str, part: str) -> ParallelDims:
    """'d4t2' -> ParallelDims(4, 1, 2): letters in any order, each once, a missing one = 1."""
    if not _DIMS_TEXT.fullmatch(text):
        raise UserError(f"cluster.allocation={spec!r}: the {part} part {text!r} is not a list of sizes like d4p1t2 "
                        "(d = data, p = pipeline, t = tensor parallel; any order, a missing one = 1)")
    sizes: dict[str, int] = {}
    for letter, number in _DIM.findall(text):
        if letter in sizes:
            raise UserError(f"cluster.allocation={spec!r}: {letter!r} appears twice in {text!r}")
        if letter not in "dpt" + "".join(_NOT_RUN):
            raise UserError(f"cluster.allocation={spec!r}: unknown size {letter}{number} in {text!r} (d, p, t)")
        sizes[letter] = int(number)
    if min(sizes.values()) < 1:
        raise UserError(f"cluster.allocation={spec!r}: every size in {text!r} must be >= 1")
    for letter, what in _NOT_RUN.items():
        if sizes.get(letter, 1) != 1:
            raise UserError(f"cluster.allocation={spec!r}: {what} parallelism ({letter}{sizes[letter]}) is not "
                            "implemented here (AReaL runs it with Megatron); use d, p and t only")
    return ParallelDims(sizes.get("d", 1), sizes.get("p", 1), sizes.get("t", 1))


def _split_parts(spec: str) -> tuple[str, str, str]:
    """(server, generation dims, training dims) of a whitespace-free spec, either part first."""
    if "|" in spec:
        raise UserError(f"cluster.allocation={spec!r}: colocation ('|': generation and training on the same GPUs) is "
                        "not supported; give them separate GPUs with '+', e.g. 'sglang.d4p1t1+d4p1t1'")
    parts = spec.split("+")
    gen = [i for i, p in enumerate(parts) if _SERVER.match(p)]
    if len(parts) != 2 or len(gen) != 1:
        raise UserError(f"cluster.allocation={spec!r}: expected a generation part and a training part joined by '+', "
                        f"one of them starting with {' or '.join(s + '.' for s in SERVERS)}, e.g. 'sglang.d4p1t1+d4p1t1' "
                        "(server-only and evaluation allocations are not training runs)")
    m = _SERVER.match(parts[gen[0]])
    train = parts[1 - gen[0]]
    if train in ("eval", "cpu"):
        raise UserError(f"cluster.allocation={spec!r}: '+{train}' is AReaL's evaluation-only allocation; training "
                        "needs GPUs for the trainer, e.g. '+d4p1t1'")
    backend, colon, dims = train.partition(":")
    if colon:
        if backend != "fsdp":
            raise UserError(f"cluster.allocation={spec!r}: the training backend {backend!r} is not implemented here; "
                            "the trainer is FSDP2 ('fsdp:' or no prefix)")
        train = dims
    return m.group(1), parts[gen[0]][m.end():], train  # type: ignore[union-attr]


def parse_allocation(spec: str) -> Allocation:
    """`'sglang.d24p1t1+d8p1t1'` -> Allocation(server='sglang', gen=(24, 1, 1), train=(8, 1, 1));
    `'sglang.d2t8+d4t8'` -> gen (2, 1, 8), train (4, 1, 8)."""
    compact = "".join(spec.split())  # AReaL ignores whitespace
    server, gen, train = _split_parts(compact)
    return Allocation(server, _dims(gen, spec, "generation"), _dims(train, spec, "training"))  # type: ignore[arg-type]


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
    gpu_memory_gib: float = cfg(80.0, "Memory of one GPU in GiB (80 for A100/H100/H800 80 GB, ~131 for H200 141 GB): "
                                "`asearcher train --dry-run` checks each actor's estimated need against it.")
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
        if self.gpu_memory_gib <= 0:
            raise UserError(f"cluster.gpu_memory_gib must be > 0, got {self.gpu_memory_gib}")
        if self.num_cpus < 0:
            raise UserError(f"cluster.num_cpus must be >= 0, got {self.num_cpus}")
        if self.object_store_mb < 100:
            raise UserError(f"cluster.object_store_mb must be >= 100 (Ray's minimum is ~75 MB), got "
                            f"{self.object_store_mb}")
        if self.allocation:
            parse_allocation(self.allocation)  # syntax only; the GPU totals are checked when Ray is launched
