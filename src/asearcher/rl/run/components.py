"""Build the parts of a training run from a `TrainConfig`: models, engine, tools, data, reward, agents.

Tests and other callers (the SFT warm start, benchmarks) build `TrainComponents` themselves (a tiny
random model, a ByteTokenizer, a scripted agent) and hand them to `TrainLoop` unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asearcher.api.agent import Agent
from asearcher.api.engine import InferenceEngine
from asearcher.api.qa import QAItem
from asearcher.api.trajectory import Trajectory
from asearcher.engines.factory import REMOTE_BACKENDS
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.rollout.config import RolloutConfig
from asearcher.rl.rollout.data import TrainData
from asearcher.rl.rollout.executor import AgentFactory, RewardFn
from asearcher.rl.train.model import build_trainer_model, set_attention, trainer_dtype

logger = logging.getLogger(__name__)

SERVER_LOG = "engine_server.log"  # in the run folder: the output of a rollout server the run launched


@dataclass
class TrainComponents:
    """Everything `TrainLoop` drives.

    Attributes:
        trainer_model: the model the in-process trainer updates (its own copy, never the engine's; None
            where the trainer lives in other processes).
        engine: the rollout engine (updatable: `aupdate_weights(state|path, version)`).
        agent_factory: episode seed -> a fresh agent on `engine` (training episodes).
        reward_fn: async trajectory -> reward (None = skip).
        data: the training questions.
        eval_items: held-out questions (None: no held-out evaluation).
        eval_agent_factory: () -> a fresh agent for evaluation (same engine, evaluation sampling).
        closers: async callables run at the end (tools, judge engine, engine).
        prepare: async callables `TrainLoop` runs once before the first episode, when the engine serves the
            trainer's weights (`build_rollout_parts`: clipping the agent's budget to the engine's window).
    """

    trainer_model: Any | None
    engine: InferenceEngine
    agent_factory: AgentFactory
    reward_fn: RewardFn
    data: TrainData
    eval_items: list[QAItem] | None = None
    eval_agent_factory: Callable[[], Agent] | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    prepare: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)


def make_reward_fn(config: RolloutConfig, judge: Any = None) -> RewardFn:
    """The configured reward as an async function of a trajectory (golds from `traj.gold`)."""
    from asearcher.reward import ajudge_reward, em_reward, f1_format_reward

    async def reward(traj: Trajectory) -> float | None:
        if config.reward == "f1_format":
            return f1_format_reward(traj, traj.gold, metrics=config.metrics)
        if config.reward == "em":
            return em_reward(traj, traj.gold, metrics=config.metrics)
        return await ajudge_reward(judge, traj, traj.gold)

    return reward


def _make_judge(config: TrainConfig) -> tuple[Any, list[Callable[[], Awaitable[None]]]]:
    if config.rollout.reward != "judge":
        return None, []
    from asearcher import paths
    from asearcher.engines.config import EngineConfig
    from asearcher.engines.factory import make_engine
    from asearcher.reward.judge import LLMJudge

    engine = make_engine(config.rollout.judge_url, config=EngineConfig(model=config.rollout.judge_model, mode="chat"))
    judge = LLMJudge(engine, model=config.rollout.judge_model or config.rollout.judge_url,
                     cache_path=paths.home() / "judge_cache.sqlite")
    close = getattr(engine, "aclose", None)
    return judge, [close] if callable(close) else []


def build_components(config: TrainConfig, trainer_model: bool = True,
                     server_log: Path | None = None, tools: dict[str, Any] | None = None) -> TrainComponents:
    """Load the model twice over (the engine's copy, and the trainer's from rl/train/model.py), tools, data,
    reward and agent factories. `trainer_model=False`: no trainer model (an FSDP2 trainer's ranks build their
    own shards, rl/distributed/torchrun.py). With engine.backend vllm / sglang the engine is a client of
    rollout servers instead (`server_log`: where a server this run launches writes its output). `tools`:
    see `build_rollout_parts`."""
    from asearcher.engines.embedded import embedded_model_path, load_causal_lm
    from asearcher.engines.transformers_engine import TransformersEngine

    if config.cluster.backend != "local":
        # atrain sends backend=ray to rl/distributed/ray_launcher.py, which builds these parts inside its actors.
        raise UserError(f"build_components builds one process's parts; cluster.backend={config.cluster.backend!r} "
                        "runs through atrain (asearcher train)")
    path = config.model or str(embedded_model_path())
    if config.engine.backend in REMOTE_BACKENDS:
        return _server_components(config, path, trainer_model, server_log, tools)
    engine_model, tokenizer = load_causal_lm(path, device=config.engine.device, dtype=config.engine.dtype)
    set_attention(engine_model, config.engine.attn_implementation)
    # Copy the engine's weights when they are what the trainer holds (one read of the file); a bfloat16
    # engine under a float32 trainer loads the file again, so the master weights keep their precision.
    same = next(engine_model.parameters()).dtype == trainer_dtype(config.trainer_dtype, config.engine.device)
    trainer = _trainer_model(config, engine_model if same else path) if trainer_model else None
    engine = TransformersEngine(engine_model, tokenizer, max_batch_size=config.engine.max_batch_size,
                                seed=config.engine.seed, prefix_cache_tokens=config.engine.prefix_cache_tokens)
    parts = build_rollout_parts(config, engine, trainer, tools)
    parts.closers.append(engine.aclose)
    return parts


def _trainer_model(config: TrainConfig, source: Any) -> Any:
    """The in-process trainer's model from `source` (a model, or a path), on engine.device."""
    return build_trainer_model(source, config.trainer_dtype, config.lora, config.seed, device=config.engine.device,
                               attn_implementation=config.engine.attn_implementation)


def _server_components(config: TrainConfig, path: str, trainer_model: bool,
                       server_log: Path | None, tools: dict[str, Any] | None) -> TrainComponents:
    """Single-node training against vLLM / SGLang servers: the trainer's model here (unless `trainer_model` is
    False: FSDP2 ranks hold it), rollouts on the servers at
    engine.servers or on one server launched for the model (engine.launch; stopped by the engine's aclose, the
    last closer). TrainConfig.validate made sure the keys fit (servers or launch, weight_sync=disk)."""
    from asearcher.engines.embedded import resolve_model_dir
    from asearcher.engines.factory import check_engine_spec, make_engine

    # An HF folder (a .gguf, the embedded model included, is converted once): the tokenizer that renders the
    # prompts, and what a launched server serves. The first weight sync puts the trainer's weights on every server.
    model_dir = str(resolve_model_dir(path))
    check_engine_spec(model_dir, config.engine)  # server URLs, before the slow parts
    if config.engine.backend == "vllm":
        from asearcher.engines.vllm_engine import check_training_server

        for url in config.engine.servers:  # a launched server gets the right flags from us
            check_training_server(url, config.trainer.temperature)
    trainer = _trainer_model(config, path) if trainer_model else None
    engine = make_engine(model_dir, config=config.engine, server_log=server_log)
    try:
        parts = build_rollout_parts(config, engine, trainer, tools)
    except BaseException:
        server = getattr(engine, "owned_server", None)
        if server is not None:  # no closer would stop it: the parts were never returned
            server.stop()
        raise
    parts.closers.append(engine.aclose)
    return parts


def build_rollout_parts(config: TrainConfig, engine: InferenceEngine, trainer_model: Any = None,
                        tools: dict[str, Any] | None = None) -> TrainComponents:
    """Everything around a given engine: tools, data, reward, agent factories, held-out set (no model loading;
    the Ray launcher's rollout actor calls this with an engine that talks to engine actors). The caller
    closes `engine` itself. `tools`: the agent's tools, built by the caller instead of from config.retriever
    and config.tools (benchmarks/async_vs_sync_real.py adds a simulated web latency to them); the parts
    close them at the end."""
    from asearcher.agent.budget import EngineFit
    from asearcher.agent.factory import make_agent
    from asearcher.rl.run.held_out import eval_setup
    from asearcher.tools import aclose_tools
    from asearcher.tools.factory import make_tools

    if tools is None:
        tools = make_tools(config.retriever or None, config.tools)
    data = TrainData.from_config(config.data, config.filter.tolerance)
    judge, closers = _make_judge(config)

    # Fitted once per run (one warning), before the first episode: `prepare` below.
    fit = EngineFit(config.agent, engine)

    def agent_factory(seed: int) -> Agent:
        return make_agent(config.agent.kind, engine, tools, dataclasses.replace(fit.config, seed=seed))

    eval_items, eval_factory = None, None
    if config.eval.enabled:
        eval_items, eval_factory = eval_setup(config, engine, tools, lambda: fit.config)

    async def close_tools() -> None:
        await aclose_tools(tools)

    return TrainComponents(trainer_model, engine, agent_factory, make_reward_fn(config.rollout, judge), data,
                           eval_items, eval_factory, closers=[close_tools, *closers], prepare=[fit.afit])
