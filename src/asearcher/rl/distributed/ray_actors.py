"""What runs inside each Ray actor of a `cluster.backend=ray` run (rl/distributed/ray_launcher.py places them).

    EngineWorker   x N   an InferenceEngine: in-process TransformersEngine (CPU), or a vLLM / SGLang server on
                         the actor's GPUs driven through VLLMEngine / SGLangEngine from inside the actor
    TrainerWorker  x 1   the PPO Trainer (rl/train/trainer.py) and its model; publishes weights to the shared
                         folder (DiskWeightSync) and writes checkpoints
    FSDPTrainerWorker x N   instead, with several trainer workers: one rank of the FSDP2 trainer
                         (rl/distributed/fsdp_trainer.py) each; rank 0 publishes the gathered weights and checkpoints
    RolloutWorker  x 1   RolloutExecutor + agents + tools + the orchestrator (TrainLoop), talking to the
                         others through rl/distributed/ray_clients.py
    RetrievalWorker 0/1  the retrieval HTTP server (retrieval/server.py) on the actor's node

These are plain classes (no Ray import at module level); the launcher wraps them with `ray.remote`.
Their code is the local mode's, unchanged: this module only decides which process builds what.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from asearcher.api.engine import GenRequest, GenResult
from asearcher.log import setup_logging
from asearcher.rl.config import TrainConfig
from asearcher.rl.interfaces import Buffer, Checkpoint

logger = logging.getLogger(__name__)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()  # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPUs (none: no CUDA)


# Each server's flags for tensor x pipeline parallel on the actor's GPUs. vLLM's workers use multiprocessing,
# not Ray, so they do not ask the cluster for resources the plan already gave this actor; SGLang's
# scheduler processes are its own children anyway.
SERVER_PARALLEL_ARGS = {
    "vllm": lambda tp, pp: ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp),
                            "--distributed-executor-backend", "mp"],
    "sglang": lambda tp, pp: ["--tp-size", str(tp), "--pp-size", str(pp)],
}


class EngineWorker:
    """One rollout engine replica. `server` is a RayPlan.server: 'transformers', 'vllm' or 'sglang'."""

    def __init__(self, config: TrainConfig, model_dir: str, server: str, tp: int = 1, pp: int = 1) -> None:
        setup_logging()
        if server == "transformers":
            from asearcher.engines.transformers_engine import TransformersEngine
            from asearcher.rl.train.model import set_attention

            engine_config = config.engine
            if _has_gpu() and engine_config.device == "cpu":
                engine_config = dataclasses.replace(engine_config, device="cuda")
            self.engine: Any = TransformersEngine.from_path(model_dir, engine_config)
            set_attention(self.engine.model, engine_config.attn_implementation)  # as the local mode's engine
        elif server in SERVER_PARALLEL_ARGS:
            # engines/factory.py's engine.launch: a vLLM / SGLang server on this actor's GPUs (Ray sets
            # CUDA_VISIBLE_DEVICES), owned and stopped by the engine.
            from asearcher.engines.factory import make_engine

            args = SERVER_PARALLEL_ARGS[server](tp, pp) + list(config.engine.launch_args)
            engine_config = dataclasses.replace(config.engine, backend=server, launch=True, servers=[],
                                                launch_args=args)
            self.engine = make_engine(model_dir, config=engine_config)
        else:
            raise ValueError(f"unknown engine server {server!r}")
        logger.info("engine actor ready: %r", self.engine)

    async def ready(self) -> int:
        """The engine's policy version (a cheap call: also the health check)."""
        return self.engine.version

    async def agenerate(self, request: GenRequest) -> GenResult:
        return await self.engine.agenerate(request)

    async def acontext_length(self) -> int | None:
        """The engine's context window (tokens one request may hold), None when it cannot tell."""
        from asearcher.engines.limits import aengine_context_length

        return await aengine_context_length(self.engine)

    async def aupdate_weights(self, path: str, version: int) -> int:
        """Load `path` (the version's folder the trainer wrote, DiskWeightSync) as `version`; in-flight
        generations resume under the new weights."""
        await self.engine.aupdate_weights(path, version)
        return self.engine.version

    async def aclose(self) -> None:
        """Stop the engine (and the server it launched)."""
        await self.engine.aclose()


class _TrainerActor:
    """A `PolicyTrainer` (`self.trainer`, rank `self.rank`) in an actor: its methods with results Ray can
    ship, plus `publish` (the weights written where the engines load them). TrainerWorker and
    FSDPTrainerWorker differ only in how they build the trainer."""

    trainer: Any
    rank: int = 0
    sync: Any

    def ready(self) -> int:
        return self.trainer.version

    def step(self, samples: list) -> tuple[dict[str, float], int]:
        """One update on the whole batch (an FSDP rank gets the same samples and takes its share); its
        stats and the new version."""
        stats = self.trainer.step(samples)
        return stats, self.trainer.version

    def export_weights(self) -> dict[str, Any]:
        """The weights engines load, copied to CPU (they leave the actor); {} on FSDP ranks other than 0."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.trainer.export_weights().items()}

    def publish(self, version: int) -> str:
        """Write the weights of `version` into the shared folder (gathered first when sharded: a collective);
        the version's folder engines load from rank 0, '' from the other ranks."""
        from asearcher.rl.train.weight_sync import WeightsSnapshot

        if version != self.trainer.version:
            raise RuntimeError(f"publish({version}) but rank {self.rank} is at version {self.trainer.version}")
        weights = self.trainer.export_weights()
        if self.rank != 0:
            return ""
        asyncio.run(self.sync.apublish(WeightsSnapshot(weights), version))
        return str(self.sync.path_of(version))

    def save_checkpoint(self, run_dir: str, step: int, state: dict[str, Any], buffer: Buffer, keep_last: int) -> str:
        """Rank 0 writes (only it needs `state` and `buffer`); a collective when sharded."""
        return str(self.trainer.save_checkpoint(Path(run_dir), step, state, buffer, keep_last))

    def load_checkpoint(self, path: str) -> Checkpoint:
        """Weights and optimizer loaded (a collective when sharded); every rank returns the checkpoint."""
        return self.trainer.load_checkpoint(Path(path))


class TrainerWorker(_TrainerActor):
    """The single-process PPO trainer in its own process (one GPU when the actor has one, else CPU)."""

    def __init__(self, config: TrainConfig, model_dir: str, weights_dir: str) -> None:
        setup_logging()
        from asearcher.rl.run.train_loop import seed_everything
        from asearcher.rl.train.model import build_trainer_model
        from asearcher.rl.train.trainer import Trainer
        from asearcher.rl.train.weight_sync import DiskWeightSync

        seed_everything(config.seed)
        device = "cuda" if _has_gpu() else "cpu"
        model = build_trainer_model(model_dir, config.trainer_dtype, config.lora, config.seed, device=device,
                                    attn_implementation=config.engine.attn_implementation)
        self.trainer = Trainer(model, config.trainer)
        self.sync = DiskWeightSync(weights_dir)
        logger.info("trainer actor ready on %s", device)


class FSDPTrainerWorker(_TrainerActor):
    """One rank of the FSDP2 trainer (rl/distributed/fsdp_trainer.py), one GPU when the actor has one, else CPU (gloo).

    The launcher starts N of them, asks rank 0 for a rendezvous address (`rendezvous`), then calls `join`
    on all of them at once (joining the group waits for every rank). After that each method is a
    collective: the client (ray_clients.RemoteTrainer) calls it on every rank with the same arguments
    and uses rank 0's answer.
    """

    def __init__(self, config: TrainConfig, model_dir: str, weights_dir: str, rank: int, world_size: int) -> None:
        setup_logging()
        from asearcher.rl.train.weight_sync import DiskWeightSync

        self.config, self.model_dir, self.rank, self.world_size = config, model_dir, rank, world_size
        self.sync = DiskWeightSync(weights_dir)
        self.trainer = None

    def rendezvous(self) -> tuple[str, int]:
        """(this node's address, a free TCP port on it): MASTER_ADDR / MASTER_PORT of the group (rank 0)."""
        import socket

        import ray

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("", 0))  # the OS picks a free port; it is bound again by rank 0's TCPStore moments later
            port = s.getsockname()[1]
        return ray.util.get_node_ip_address(), port

    def join(self, master_addr: str, master_port: int) -> int:
        """Join the process group (nccl on CUDA, gloo on CPU; fsdp.backend) and build this rank's shard."""
        from asearcher.rl.distributed.torchrun import build_fsdp_trainer
        from asearcher.rl.run.train_loop import seed_everything

        # Ray sets CUDA_VISIBLE_DEVICES to this actor's one GPU: it is local device 0.
        os.environ.update(RANK=str(self.rank), WORLD_SIZE=str(self.world_size), MASTER_ADDR=master_addr,
                          MASTER_PORT=str(master_port), LOCAL_RANK="0")
        seed_everything(self.config.seed)
        self.trainer = build_fsdp_trainer(self.config, self.model_dir)
        logger.info("FSDP2 trainer rank %d/%d ready on %s", self.rank, self.world_size, self.trainer.device)
        return self.trainer.version


class RolloutWorker:
    """The executor, agents, tools and orchestrator: `TrainLoop` with a remote trainer and remote engines."""

    def __init__(self, config: TrainConfig, run_dir: str, engines: list[Any], trainers: list[Any],
                 progress: bool) -> None:
        setup_logging()
        self.config = config
        self.run_dir = Path(run_dir)
        self.engine_handles = engines
        self.trainer_handles = trainers  # one TrainerWorker, or the FSDPTrainerWorker ranks in rank order
        self.progress = progress

    async def ready(self) -> bool:
        return True

    async def arun(self, resume: bool) -> Any:
        """The RL phase of `atrain` (a TrainResult); cancelling this call checkpoints like Ctrl-C does locally."""
        from asearcher.engines.embedded import load_tokenizer
        from asearcher.engines.router import RoutedEngine
        from asearcher.rl.distributed.ray_clients import RayEngineClient, RemoteTrainer, TrainerDiskWeightSync
        from asearcher.rl.run.components import build_rollout_parts
        from asearcher.rl.run.train_loop import TrainLoop

        tokenizer = load_tokenizer(self.config.model)
        clients = [RayEngineClient(h, tokenizer, f"engine-{i}") for i, h in enumerate(self.engine_handles)]
        engine: Any = clients[0] if len(clients) == 1 else RoutedEngine(clients)  # per-trajectory affinity
        parts = build_rollout_parts(self.config, engine)
        version = await self.trainer_handles[0].ready.remote()
        trainer = RemoteTrainer(self.trainer_handles, version)
        loop = TrainLoop(self.config, parts, self.run_dir, self.progress, trainer=trainer,
                         sync=TrainerDiskWeightSync(self.run_dir / "weights", trainer))
        try:
            return await loop.arun(resume=resume)
        finally:
            for close in [*parts.closers, engine.aclose]:
                await close()


class RetrievalWorker:
    """Serves an index folder (None: the embedded corpus's BM25 index) over HTTP on this actor's node."""

    def __init__(self, index_dir: str | None) -> None:
        setup_logging()
        from asearcher.corpus import JsonlPageStore
        from asearcher.retrieval import ensure_default_index, read_meta
        from asearcher.retrieval.server import create_app
        from asearcher.retrieval.server_runner import ServerThread

        folder = Path(index_dir) if index_dir else ensure_default_index("bm25")
        pages_path = read_meta(folder).get("pages")
        pages = JsonlPageStore(pages_path) if pages_path and Path(pages_path).is_file() else None
        self.server = ServerThread(create_app(folder, pages), host="0.0.0.0")
        self.server.start()

    def url(self, timeout_s: float = 600.0) -> str:
        """http://<this node's address>:<port>, once /health answers 200 (the index is loaded)."""
        import time

        import httpx
        import ray

        local = f"http://127.0.0.1:{self.server.port}"
        deadline = time.monotonic() + timeout_s
        while httpx.get(f"{local}/health", timeout=5.0).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"retrieval server not healthy after {timeout_s:.0f} s")
            time.sleep(0.2)
        return f"http://{ray.util.get_node_ip_address()}:{self.server.port}"
