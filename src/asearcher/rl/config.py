"""`TrainConfig`: the whole configuration of one `asearcher train` run, composed of component configs.

A recipe (`src/asearcher/recipes/*.yaml`) is a file of these keys; `asearcher train key.sub=value`
overrides them; unknown keys fail loudly; the resolved config is saved as `<run>/config.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asearcher.agent.config import AgentConfig
from asearcher.config import cfg
from asearcher.engines.config import EngineConfig
from asearcher.engines.factory import REMOTE_BACKENDS
from asearcher.errors import UserError
from asearcher.rl.algo.advantages import AdvantageConfig
from asearcher.rl.distributed.config import ClusterConfig, FSDPConfig, parse_allocation
from asearcher.rl.rollout.config import RolloutConfig
from asearcher.rl.rollout.filtering import FilterConfig
from asearcher.rl.train.model import LoraConfig
from asearcher.rl.train.sft import SFTConfig
from asearcher.rl.train.trainer import TrainerConfig
from asearcher.tools.config import ToolsConfig
from asearcher.tracking.wandb_sink import WandbConfig


@dataclass
class DataConfig:
    """Training questions."""

    train: str = cfg("default", "Training QA file or benchmark name (any format `asearcher eval` reads); "
                     "'default' = the embedded corpus's qa_train.jsonl (page titles); 'facts' = its fill-the-blank "
                     "fact questions (facts_train.jsonl, corpus/facts.py).")
    data_root: str = cfg("", "Folder holding <name>/test.jsonl for benchmark names (default $ASEARCHER_DATA).")
    epochs: int = cfg(1, "Passes over the training questions; training stops at the end of the last one.")
    shuffle: bool = cfg(True, "Shuffle the questions every epoch (seeded by data.seed and the epoch).")
    seed: int = cfg(0, "Shuffle seed.")
    limit: int = cfg(0, "Use only the first N questions (0 = all).")
    skip_window: int = cfg(0, "Difficulty-aware sampling: skip a question whose last N groups all scored the same "
                              "(all correct or all wrong: no gradient) for data.revisit_after epochs; 0 = off.")
    revisit_after: int = cfg(1, "Epochs a skipped question sits out before it is drawn again.")

    def validate(self) -> None:
        if self.epochs < 1:
            raise UserError(f"data.epochs must be >= 1, got {self.epochs}")
        if self.limit < 0:
            raise UserError(f"data.limit must be >= 0, got {self.limit}")


@dataclass
class HeldOutConfig:
    """Held-out evaluation before and after training (the same runner and graders as `asearcher eval`)."""

    enabled: bool = cfg(True, "Evaluate before and after training.")
    data: str = cfg("default", "Held-out QA file or benchmark name; 'default' / 'facts' = the embedded task's held-out split "
                               "(qa_test.jsonl / facts_test.jsonl).")
    questions: int = cfg(32, "Questions evaluated (the first N of the file).")
    shipped_questions: int = cfg(0, "Questions of the shipped-model eval before an SFT warm start (the first N of "
                                    "eval.questions); 0 = all of them. That model never learnt the action format, "
                                    "rambles to max_turns and scores ~0, so a few questions show it at a fraction "
                                    "of the cost.")
    k: int = cfg(1, "Samples per question.")
    concurrency: int = cfg(8, "Episodes in flight during evaluation.")
    temperature: float = cfg(-1.0, "Sampling temperature for evaluation; -1 = the training agent's temperature.")

    def validate(self) -> None:
        if self.shipped_questions < 0:
            raise UserError(f"eval.shipped_questions must be >= 0 (0 = eval.questions), got {self.shipped_questions}")
        if self.questions < 1 or self.k < 1 or self.concurrency < 1:
            raise UserError(f"eval.questions, eval.k and eval.concurrency must be >= 1, got "
                            f"{self.questions}, {self.k}, {self.concurrency}")


@dataclass
class CheckpointConfig:
    """Checkpoints for resuming (`asearcher train --resume RUN_DIR`)."""

    every_steps: int = cfg(10, "Save a checkpoint every N steps (and always at the end / on Ctrl-C); 0 = only then.")
    keep_last: int = cfg(2, "Checkpoints kept; older ones are deleted.")

    def validate(self) -> None:
        if self.every_steps < 0 or self.keep_last < 1:
            raise UserError(f"checkpoint.every_steps must be >= 0 and checkpoint.keep_last >= 1, got "
                            f"{self.every_steps}, {self.keep_last}")


@dataclass
class TrainConfig:
    """One fully asynchronous RL run: model, data, agent, rewards, staleness, optimisation, checkpoints."""

    name: str = cfg("train", "Run name; the run folder is <out_dir>/<name>-<timestamp>.")
    out_dir: str = cfg("runs", "Parent folder of run folders.")
    model: str = cfg("", "Policy model: an HF folder or .gguf file; empty = the embedded SmolLM2-135M-Instruct.")
    trainer_dtype: Literal["auto", "float32", "bfloat16"] = cfg(
        "auto", "Trainer weights dtype; auto = bfloat16 on a CUDA GPU that supports it, else float32.")
    retriever: str = cfg("", "Tools' source: index folder, retrieval server URL, 'web'; empty = embedded BM25.")
    total_steps: int = cfg(10, "Training steps (policy versions) to run; fewer if the data's epochs end first.")
    seed: int = cfg(0, "Seed of python, numpy and torch.")
    weight_sync: Literal["in_process", "disk"] = cfg(
        "in_process", "How weights reach the engine: in_process (state-dict copy) or disk (safetensors folder).")
    tensorboard: bool = cfg(False, "Also log metrics to TensorBoard (needs the `tensorboard` package).")
    wandb: bool = cfg(False, "Also log metrics to Weights & Biases (pip install 'asearcher[wandb]').")
    wandb_config: WandbConfig = cfg(WandbConfig(), "W&B project, run name, entity, mode, tags (when wandb=true).")
    log_trajectories: bool = cfg(True, "Write each step's trained trajectories to <run>/trajectories.jsonl "
                                 "(read by `asearcher ui`).")
    rollout: RolloutConfig = cfg(RolloutConfig(), "The rollout executor.")
    data: DataConfig = cfg(DataConfig(), "Training questions.")
    agent: AgentConfig = cfg(AgentConfig(temperature=1.0), "The agent loop (temperature must equal trainer.temperature).")
    tools: ToolsConfig = cfg(ToolsConfig(), "Search / access tools.")
    engine: EngineConfig = cfg(EngineConfig(backend="transformers"), "The rollout inference engine.")
    trainer: TrainerConfig = cfg(TrainerConfig(), "The PPO trainer.")
    fsdp: FSDPConfig = cfg(FSDPConfig(), "The multi-process FSDP2 trainer (torchrun, or several Ray trainer workers).")
    advantage: AdvantageConfig = cfg(AdvantageConfig(), "Rewards -> advantages.")
    filter: FilterConfig = cfg(FilterConfig(), "Dynamic filtering of all-equal groups.")
    lora: LoraConfig = cfg(LoraConfig(), "Optional LoRA.")
    sft: SFTConfig = cfg(SFTConfig(), "SFT warm start on scripted expert episodes before RL (into <run>/sft/, "
                         "which the RL phase then loads as its model); off unless sft.enabled.")
    checkpoint: CheckpointConfig = cfg(CheckpointConfig(), "Checkpointing.")
    eval: HeldOutConfig = cfg(HeldOutConfig(), "Held-out evaluation before / after training.")
    cluster: ClusterConfig = cfg(ClusterConfig(), "Process placement (scale-out).")

    def validate(self) -> None:
        if self.total_steps < 1:
            raise UserError(f"total_steps must be >= 1, got {self.total_steps}")
        behaviour_t = self.agent.temperature if self.agent.temperature > 0 else 1.0  # greedy: logprobs at T=1
        if abs(behaviour_t - self.trainer.temperature) > 1e-9:
            # The trainer recomputes log_softmax(logits / T): another T makes prox and behaviour disagree.
            raise UserError(f"trainer.temperature ({self.trainer.temperature}) must equal agent.temperature "
                            f"({self.agent.temperature}; 1.0 when greedy): the trainer recomputes the engine's logprobs")
        if self.agent.top_p < 1.0:
            raise UserError(f"agent.top_p={self.agent.top_p}: training needs top_p=1 (behaviour logprobs are "
                            "over the full vocabulary)")
        self._check_engine_backend()

    def _check_engine_backend(self) -> None:
        """engine.backend names what generates, so a value the launcher would not use is refused, never
        silently replaced: local runs generate with an in-process transformers engine (the trainer's weights
        are copied into it) or with vLLM / SGLang servers (engine.servers, or one server the run launches;
        weights go by disk); Ray runs without an allocation use in-process engines; with cluster.allocation the
        allocation's server generates (engine.backend may repeat it)."""
        backend, c = self.engine.backend, self.cluster
        if c.backend != "local" and c.allocation:
            server = parse_allocation(c.allocation).server
            if backend not in ("transformers", server):
                raise UserError(f"engine.backend={backend!r} but cluster.allocation={c.allocation!r} generates with "
                                f"{server}: leave engine.backend unset or set it to {server}")
        elif c.backend == "local" and backend in REMOTE_BACKENDS:
            self._check_local_servers()
        elif backend != "transformers" and c.backend == "local":
            raise UserError(f"engine.backend={backend!r}: local training (cluster.backend=local) generates with an "
                            "in-process transformers engine or with rollout servers; set engine.backend to "
                            "transformers, vllm or sglang")
        elif backend != "transformers":
            raise UserError(f"engine.backend={backend!r}: cluster.backend={c.backend} without cluster.allocation "
                            "generates with in-process transformers engines; set engine.backend=transformers, or "
                            "generate with vLLM / SGLang servers through cluster.allocation (docs/scale-out.md)")

    def _check_local_servers(self) -> None:
        """Local training with engine.backend vllm / sglang: where the servers are, and how weights reach them."""
        e = self.engine
        name = f"engine.backend={e.backend!r}"
        if e.launch and e.servers:
            raise UserError(f"{name}: engine.launch=true starts a server for the model; leave engine.servers empty "
                            f"(got {e.servers})")
        if not e.launch and not e.servers:
            raise UserError(f"{name} needs engine.servers=[URL] (running servers serving the model) or "
                            "engine.launch=true (this run starts one); docs/runbook.md, 'Local training with "
                            "rollout servers'")
        if self.weight_sync != "disk":
            raise UserError(f"{name}: the servers load each policy version from disk; set weight_sync=disk "
                            f"(got {self.weight_sync!r})")
