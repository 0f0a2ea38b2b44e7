"""`asearcher train --dry-run`: a config resolved to its launch plan, printed, nothing started.

Which actors (rollout servers of the allocation's kind, FSDP2 trainer ranks in a placement group, the
rollout actor, the retrieval server), their GPUs and CPUs, memory per GPU estimated from the model's
shapes (rl/distributed/model_shape.py), the weight-sync path and the files the run reads. No Ray, no
torch, no weights: it runs on a laptop for a 128-GPU recipe. An impossible plan (memory over
`cluster.gpu_memory_gib`, servers that do not divide the heads or do not fit the nodes) is a UserError
naming the key to change.

The memory figures are estimates of what dominates, not a profiler: allocator fragmentation, CUDA
context (~0.5-1 GiB), NCCL buffers and temporary tensors in the backward come on top, so a plan near
the limit is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from asearcher.engines.factory import REMOTE_BACKENDS
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed.model_shape import ModelShape, model_shape
from asearcher.rl.distributed.placement import RayPlan, make_plan
from asearcher.rl.run.components import SERVER_LOG

GIB = 2**30
# Share of a GPU a rollout server takes (weights + KV cache + its activations): vLLM's default
# gpu_memory_utilization; SGLang's mem_fraction_static is chosen near it for these model sizes.
SERVER_MEMORY_FRACTION = 0.9
# A plan whose estimate passes this share of the GPU is flagged: the estimate leaves out allocator
# fragmentation, the CUDA context and transient backward tensors.
TIGHT_FRACTION = 0.9


@dataclass
class ActorGroup:
    """Actors of one kind, identical: what each runs on and holds."""

    title: str
    resources: str
    memory: list[tuple[str, float]] = field(default_factory=list)  # (what, bytes) per GPU (or process on CPU)
    notes: list[str] = field(default_factory=list)
    on_gpu: bool = False

    @property
    def total(self) -> float:
        return sum(b for _, b in self.memory)


@dataclass
class LaunchPlan:
    """What `asearcher train` would start for a config; `render()` is what --dry-run prints."""

    header: list[str]
    groups: list[ActorGroup]
    weight_sync: list[str]
    files: list[tuple[str, str, str]]  # (role, path or spec, status)
    warnings: list[str]

    def render(self) -> str:
        out = [*self.header, "", "actors:"]
        for g in self.groups:
            out.append(f"  {g.title}: {g.resources}")
            for what, b in g.memory:
                out.append(f"      {b / GIB:9.2f} GiB  {what}")
            if g.memory:
                where = "per GPU" if g.on_gpu else "per process (host RAM)"
                out.append(f"      {g.total / GIB:9.2f} GiB  total {where}")
            out.extend(f"      {n}" for n in g.notes)
        out += ["", "weight sync:", *(f"  {w}" for w in self.weight_sync), "", "files it reads:"]
        out.extend(f"  {role:<16} {spec}  [{status}]" for role, spec, status in self.files)
        if self.warnings:
            out += ["", "warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(out)


def _dtype_bytes(name: str, on_gpu: bool) -> int:
    """bfloat16/float16 = 2, float32 = 4; 'auto' = bfloat16 on GPUs, float32 on CPU (as the engines and the
    trainer resolve it)."""
    if name == "auto":
        return 2 if on_gpu else 4
    return 4 if name == "float32" else 2


def _check_fits(group: ActorGroup, config: TrainConfig, keys: str, warnings: list[str]) -> None:
    """UserError when a GPU actor's estimate exceeds cluster.gpu_memory_gib; a warning when it is tight."""
    if not group.on_gpu:
        return
    limit = config.cluster.gpu_memory_gib * GIB
    if group.total > limit:
        raise UserError(f"{group.title}: needs ~{group.total / GIB:.1f} GiB per GPU but cluster.gpu_memory_gib="
                        f"{config.cluster.gpu_memory_gib:g}; change {keys} (the dry run's breakdown: "
                        f"{'; '.join(f'{w} {b / GIB:.1f} GiB' for w, b in group.memory)})")
    if group.total > TIGHT_FRACTION * limit:
        warnings.append(f"{group.title}: ~{group.total / GIB:.1f} GiB of {config.cluster.gpu_memory_gib:g} GiB per "
                        f"GPU is estimated: little room for what the estimate leaves out ({keys})")


def _master_bytes(config: TrainConfig, on_gpu: bool, fsdp: bool) -> int:
    """Bytes per parameter of the trainer's weights (and so of its gradients and AdamW moments), as
    rl/train/model.trainer_dtype resolves it: 'auto' is float32 when sharded (FSDP2 computes in
    fsdp.param_dtype) or on CPU, bfloat16 for one process on a GPU."""
    if config.trainer_dtype == "auto" and (fsdp or not on_gpu):
        return 4
    return _dtype_bytes(config.trainer_dtype, on_gpu)


def trainer_group(config: TrainConfig, shape: ModelShape, ranks: int, on_gpu: bool, fsdp: bool) -> ActorGroup:
    """The trainer's memory per rank: state sharded over the ranks (FSDP2) or whole (one process),
    parameters gathered for compute, activations and logits of one micro-batch."""
    p = shape.params
    sharded = ranks if fsdp else 1
    master = _master_bytes(config, on_gpu, fsdp)
    compute = _dtype_bytes(config.fsdp.param_dtype, on_gpu) if fsdp else master
    mdt = "fp32" if master == 4 else "bf16"
    shard = f"sharded over {ranks} ranks" if fsdp else "one process, not sharded"
    g = ActorGroup("", "", on_gpu=on_gpu)
    g.memory += [(f"weights {mdt} ({shard})", master * p / sharded),
                 (f"gradients {mdt} ({shard})", master * p / sharded),
                 (f"AdamW moments 2 x {mdt} ({shard})", 2 * master * p / sharded)]
    if fsdp:
        # The root unit (embeddings, LM head, final norm) stays gathered through the forward; decoder layers
        # are gathered one at a time plus the next one prefetched (or all of them without resharding).
        layers = 2 if config.fsdp.reshard_after_forward else shape.layers
        g.memory.append((f"gathered for compute ({'bf16' if compute == 2 else 'fp32'}): embeddings + LM head + "
                         f"{layers} layers", compute * (shape.root_params + layers * shape.layer_params)))
    t = config.trainer.max_tokens_per_mb
    per_layer = t * shape.saved_bytes_per_token_layer(compute)
    if fsdp and config.fsdp.gradient_checkpointing:
        g.memory += [(f"activations: {shape.layers} layer inputs x {t} tokens (gradient checkpointing)",
                      shape.layers * t * shape.hidden * compute),
                     ("activations: one layer recomputed in the backward", per_layer)]
    else:  # only the FSDP2 trainer checkpoints (rl/distributed/fsdp_trainer.py)
        why = "fsdp.gradient_checkpointing=false" if fsdp else "the single-process trainer does not checkpoint"
        g.memory.append((f"activations: {shape.layers} layers x {t} tokens ({why})", shape.layers * per_layer))
    # The LM head's logits in the compute dtype and the float32 copy the logprob keeps for the backward
    # (rl/algo/logprobs.py); an upper bound: every token of the micro-batch counted, not only trained ones.
    g.memory.append((f"logits {t} tokens x vocab {shape.vocab} (compute dtype + fp32 copy)",
                     t * shape.vocab * (compute + 4)))
    g.notes.append(f"micro-batch: trainer.max_tokens_per_mb={t} tokens; a step's "
                   f"{config.rollout.batch_questions * config.rollout.group_size} trajectories are balanced over the "
                   f"rank{'s' if ranks > 1 else ''} by tokens")
    return g


def server_group(config: TrainConfig, shape: ModelShape, plan: RayPlan, warnings: list[str]) -> ActorGroup:
    """A rollout server's memory per GPU: its weight shard and the KV cache the rest of its share holds,
    against the tokens the rollout may keep in flight on it."""
    tp, pp, c = plan.engine_tp, plan.engine_pp, config.cluster
    if shape.heads % tp or (shape.kv_heads % tp and tp % shape.kv_heads):
        raise UserError(f"cluster.allocation={c.allocation!r}: tensor parallel t{tp} does not divide {shape.name}'s "
                        f"{shape.heads} attention heads / {shape.kv_heads} KV heads; pick t among the divisors")
    dtype = _dtype_bytes(config.engine.dtype, True)
    g = ActorGroup(f"{plan.engines} x rollout server ({plan.server}, t{tp} p{pp})",
                   f"{plan.engine_gpus} GPU, {plan.engine_cpus:g} CPU each", on_gpu=True)
    g.memory.append((f"weights {'bf16' if dtype == 2 else 'fp32'} (/{tp * pp} GPUs)", dtype * shape.params / (tp * pp)))
    per_token = shape.kv_bytes_per_token(dtype, tp, pp)
    room = SERVER_MEMORY_FRACTION * c.gpu_memory_gib * GIB - g.memory[0][1]
    episode = config.agent.max_context_tokens
    if room < per_token * episode:
        raise UserError(f"{g.title}: after its weights ({g.memory[0][1] / GIB:.1f} GiB per GPU) a server's KV cache "
                        f"cannot hold one episode of agent.max_context_tokens={episode} tokens on "
                        f"cluster.gpu_memory_gib={c.gpu_memory_gib:g}: raise t in cluster.allocation or lower "
                        "agent.max_context_tokens")
    g.memory.append((f"KV cache: the rest of its {SERVER_MEMORY_FRACTION:.0%} share", room))
    holds = int(room // per_token)
    in_flight = math.ceil(config.rollout.max_concurrent / plan.engines)
    g.notes += [f"KV per token {per_token / 1024:.1f} KiB per GPU (2 x {shape.layers} layers x {shape.kv_heads} KV "
                f"heads x {shape.head_dim} x {dtype} bytes, /t{tp} heads, /p{pp} layers): holds {holds:,} tokens = "
                f"{holds // episode} full episodes of {episode} tokens (agent.max_context_tokens)",
                f"in flight per server: up to {in_flight} episodes (rollout.max_concurrent={config.rollout.max_concurrent}"
                f" / {plan.engines} servers) = {in_flight * episode:,} tokens at full length"]
    if in_flight * episode > holds:
        warnings.append(f"rollout servers: {in_flight} episodes of up to {episode} tokens in flight per server exceed "
                        f"the {holds:,} tokens its KV cache holds; the server queues or preempts the rest (lower "
                        "rollout.max_concurrent, or more servers in cluster.allocation)")
    return g


def retrieval_line(config: TrainConfig, plan: RayPlan | None) -> tuple[str, list[str]]:
    """Where the tools search: an actor, a given URL, the web, or in-process; and warnings."""
    r, warnings = config.retriever, []
    if plan is not None and plan.retrieval_cpus:
        from asearcher.rl.distributed.ray_launcher import check_retrieval_server

        check_retrieval_server(config)
        return f"retrieval server actor ({plan.retrieval_cpus:g} CPU) serving {r or 'the embedded BM25 index'}", []
    if r.startswith(("http://", "https://")):
        host = r.split("://", 1)[1].split("/")[0].split(":")[0]
        if plan is not None and config.cluster.n_nodes > 1 and host in ("localhost", "127.0.0.1"):
            warnings.append(f"retriever={r!r}: on {config.cluster.n_nodes} nodes 'localhost' is the node the rollout "
                            "actor lands on; give the retrieval server's address reachable from every node")
        return f"retrieval server at {r} (retriever; started by you, not by the run)", warnings
    if r == "web":
        return "web search (Serper, needs SERPER_API_KEY) and page fetching, from the rollout actor", []
    where = "the rollout actor" if plan is not None else "this process"
    return f"{'index ' + r if r else 'embedded BM25 over the bundled corpus'}, searched in {where}", []


def weight_sync_lines(config: TrainConfig, plan: RayPlan | None) -> list[str]:
    """How each new policy version reaches the engines."""
    run = f"{config.out_dir}/{config.name}-<timestamp>"
    if plan is None and config.weight_sync == "in_process":
        return ["in_process: the trainer's state dict copied into the in-process engine (weight_sync=in_process)"]
    lines = [f"disk: the trainer (rank 0) writes {run}/weights/v<N>/ (safetensors) and every engine loads it "
             f"(weight_sync={config.weight_sync}; a Ray run always syncs through this folder)"]
    if plan is not None:
        lines.append("every node must see out_dir at the same path (a shared file system)")
        if plan.engine_gpus:
            lines.append("NCCL broadcast (rl/distributed/nccl_sync.py, vLLM and SGLang receive it) is not wired into "
                         "the Ray launcher yet: disk is the path this plan uses")
    return lines


def _file_status(spec: str) -> str:
    path = Path(spec).expanduser()
    if path.is_file():
        return f"exists, {path.stat().st_size / 2**20:.1f} MiB"
    return "exists (folder)" if path.is_dir() else "MISSING here"


def data_files(config: TrainConfig) -> list[tuple[str, str, str]]:
    """(role, spec, status) of everything the run reads from disk; nothing is built or downloaded."""
    from asearcher.corpus.tasks import EMBEDDED_TASKS

    def dataset(role: str, spec: str) -> tuple[str, str, str]:
        if spec in EMBEDDED_TASKS:
            return role, spec, "embedded task, built on first use"
        if Path(spec).expanduser().exists() or "/" in spec or Path(spec).suffix:
            return role, spec, _file_status(spec)
        root = config.data.data_root or "$ASEARCHER_DATA"
        return role, spec, f"benchmark name, read from {root}/<name>/"

    rows = [("model", config.model, _file_status(config.model)) if config.model
            else ("model", "embedded SmolLM2-135M-Instruct", "bundled")]
    rows.append(dataset("training data", config.data.train))
    if config.eval.enabled:
        rows.append(dataset("held-out data", config.eval.data))
    r = config.retriever
    if r and r != "web" and not r.startswith(("http://", "https://")):
        rows.append(("retrieval index", r, _file_status(r)))
    if config.rollout.reward == "judge" and not config.rollout.judge_url.startswith(("http://", "https://")):
        rows.append(("judge model", config.rollout.judge_url, _file_status(config.rollout.judge_url)))
    return rows


def _ray_groups(config: TrainConfig, shape: ModelShape, plan: RayPlan, warnings: list[str]) -> list[ActorGroup]:
    """The actors of a cluster.backend=ray run, each checked against the GPU's memory."""
    from asearcher.rl.distributed.torchrun import uses_fsdp

    groups = []
    if plan.engine_gpus:
        groups.append(server_group(config, shape, plan, warnings))
        _check_fits(groups[-1], config, "cluster.allocation (t) or agent.max_context_tokens", warnings)
    else:
        groups.append(ActorGroup(f"{plan.engines} x engine (in-process transformers)", f"{plan.engine_cpus:g} CPU each"))
    fsdp = uses_fsdp(config, plan.trainer_workers)
    trainer = trainer_group(config, shape, plan.trainer_workers, plan.trainer_gpus > 0, fsdp)
    kind = "FSDP2 trainer rank" if fsdp else "trainer"
    trainer.title = f"{plan.trainer_workers} x {kind}"
    trainer.resources = f"{plan.trainer_gpus} GPU, {plan.trainer_cpus:g} CPU each"
    if fsdp and (bundles := plan.trainer_bundles()):
        bundle = ", ".join(f"{k}: {v:g}" for k, v in bundles[0].items())
        trainer.notes.insert(0, f"placement group: {len(bundles)} bundles {{{bundle}}}, strategy PACK (ranks on as "
                                "few nodes as fit)")
    groups.append(trainer)
    _check_fits(trainer, config, "trainer.max_tokens_per_mb, fsdp.gradient_checkpointing or the training part of "
                "cluster.allocation", warnings)
    groups.append(ActorGroup("1 x rollout", f"{plan.rollout_cpus:g} CPU (executor, agents, tools, orchestrator)"))
    return groups


def _local_groups(config: TrainConfig, shape: ModelShape, warnings: list[str]) -> list[ActorGroup]:
    """A cluster.backend=local run: engine, trainer and rollout in this process; with engine.backend vllm /
    sglang the engine is rollout servers instead (given by URL, or one the run launches)."""
    on_gpu = config.engine.device.startswith("cuda")
    g = trainer_group(config, shape, 1, on_gpu, config.fsdp.mode == "on")
    g.resources = "1 GPU" if on_gpu else "CPU"
    e = config.engine
    if e.backend in REMOTE_BACKENDS:
        g.title = "1 x this process (trainer, rollout)"
        g.notes.append("under torchrun (WORLD_SIZE > 1) each rank runs the FSDP2 trainer; rank 0 also the rollout")
        _check_fits(g, config, "trainer.max_tokens_per_mb", warnings)
        if e.launch:
            servers = ActorGroup(f"1 x {e.backend} server this run launches (engine.launch) for the model",
                                 "127.0.0.1, a free port; its own memory settings (engine.launch_args); output in "
                                 f"<run>/{SERVER_LOG}")
        else:
            servers = ActorGroup(f"{len(e.servers)} x {e.backend} server you started (engine.servers)",
                                 ", ".join(e.servers))
        return [g, servers]
    g.title = "1 x this process (in-process transformers engine, trainer, rollout)"
    dtype = _dtype_bytes(config.engine.dtype, on_gpu)
    g.memory.insert(0, (f"engine weights ({'bf16' if dtype == 2 else 'fp32'}, its own copy)", dtype * shape.params))
    held = config.engine.max_batch_size * config.agent.max_context_tokens
    g.memory.insert(1, (f"engine KV cache: {config.engine.max_batch_size} sequences (engine.max_batch_size) x "
                        f"{config.agent.max_context_tokens} tokens", held * shape.kv_bytes_per_token(dtype)))
    g.notes.append("under torchrun (WORLD_SIZE > 1) each rank runs the FSDP2 trainer; rank 0 also the engine and rollout")
    _check_fits(g, config, "trainer.max_tokens_per_mb or engine.max_batch_size", warnings)
    return [g]


def make_launch_plan(config: TrainConfig, recipe: str = "") -> LaunchPlan:
    """The launch plan of `config` (validated as for a run); UserError naming the key for impossible plans."""
    c = config.cluster
    if c.backend == "slurm":
        raise UserError("cluster.backend=slurm: Slurm runs go through Ray: set cluster.backend=ray and start the job "
                        "with scripts/slurm_ray.sbatch (docs/runbook.md)")
    shape = model_shape(config.model)
    warnings: list[str] = []
    plan = make_plan(c) if c.backend == "ray" else None
    groups = _ray_groups(config, shape, plan, warnings) if plan else _local_groups(config, shape, warnings)
    retrieval, more = retrieval_line(config, plan)
    warnings += more
    if plan is None:
        where = ("generation on rollout servers" if config.engine.backend in REMOTE_BACKENDS
                 else "everything in this process")
        launcher = f"local: {where} (cluster.backend=local), no Ray"
    else:
        where = f"joins the Ray cluster at {c.ray_address!r}" if c.ray_address else "starts a private Ray on this machine"
        launcher = (f"Ray (cluster.backend=ray): {where}; {c.n_nodes} node(s) x {c.gpus_per_node} GPUs; the plan takes "
                    f"{plan.total_gpus} GPUs and {plan.total_cpus:g} CPUs")
    header = [f"launch plan{' of ' + recipe if recipe else ''} (dry run: nothing started, no weights loaded)",
              f"launcher: {launcher}",
              f"model: {shape.name}, {shape.params / 1e9:.2f} B parameters; shapes from {shape.source}",
              f"       {shape.layers} layers, hidden {shape.hidden}, MLP {shape.intermediate}, {shape.heads} heads "
              f"({shape.kv_heads} KV, head_dim {shape.head_dim}), vocab {shape.vocab}",
              f"retrieval: {retrieval}"]
    if config.rollout.reward == "judge":
        header.append(f"judge: {config.rollout.judge_model or 'model'} at {config.rollout.judge_url} "
                      "(rollout.judge_url; a server you start, not part of this plan)")
    files = data_files(config)
    missing = [f"{role} {spec}" for role, spec, status in files if status == "MISSING here"]
    if missing:
        warnings.append(f"not on this machine: {', '.join(missing)} (the run reads them where it starts)")
    return LaunchPlan(header, groups, weight_sync_lines(config, plan), files, warnings)
