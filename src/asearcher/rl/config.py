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
from asearcher.errors import UserError
from asearcher.rl.advantages import AdvantageConfig
from asearcher.rl.filtering import FilterConfig
from asearcher.rl.fsdp_trainer import FSDPConfig
from asearcher.rl.sft import SFTConfig
from asearcher.rl.trainer import TrainerConfig
from asearcher.tools.config import ToolsConfig

RewardKind = Literal["f1_format", "em", "judge"]
OvertakenPolicy = Literal["wait", "drop"]


@dataclass
class RolloutConfig:
    """The rollout executor: groups, batch size, staleness (AReaL's eta) and concurrency."""

    group_size: int = cfg(4, "Trajectories per question (a GRPO group).")
    batch_questions: int = cfg(4, "Questions (groups) per training step; batch = batch_questions * group_size.")
    max_staleness: int = cfg(1, "eta: most policy versions a trained token may lag; 0 = synchronous RL.")
    max_concurrent: int = cfg(16, "Most episodes in flight at once (also bounded by the staleness rule).")
    overtaken: OvertakenPolicy = cfg(
        "wait", "A group started eta versions ago and still running (overtaken by shorter, later groups): wait = "
        "the trainer waits for it and trains it in this batch, so long episodes are never lost to staleness; "
        "drop = train what has finished and drop it later as too_stale (the long tail is lost).")
    reward: RewardKind = cfg("f1_format", "Reward: f1_format (answer F1 x format), em (exact match x format), judge.")
    judge_url: str = cfg("", "reward=judge: OpenAI-compatible URL (or local model path) of the judge model.")
    judge_model: str = cfg("", "reward=judge: model name sent to the judge server (and its cache key).")
    seed: int = cfg(0, "Seed of the per-episode sampling seeds (derived from epoch, question and sample).")

    def validate(self) -> None:
        for name in ("group_size", "batch_questions", "max_concurrent"):
            if getattr(self, name) < 1:
                raise UserError(f"rollout.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_staleness < 0:
            raise UserError(f"rollout.max_staleness must be >= 0, got {self.max_staleness}")
        if self.max_concurrent < self.group_size:
            # Groups start whole; fewer slots than one group would never start anything.
            raise UserError(f"rollout.max_concurrent ({self.max_concurrent}) must be >= rollout.group_size "
                            f"({self.group_size})")
        if self.reward == "judge" and not self.judge_url:
            raise UserError("rollout.reward=judge needs rollout.judge_url")

    @property
    def batch_size(self) -> int:
        """Trajectories per step (the StalenessController's batch size)."""
        return self.batch_questions * self.group_size


@dataclass
class DataConfig:
    """Training questions."""

    train: str = cfg("default", "Training QA file or benchmark name (any format `asearcher eval` reads); "
                     "'default' = the embedded corpus's qa_train.jsonl.")
    data_root: str = cfg("", "Folder holding <name>/test.jsonl for benchmark names (default $ASEARCHER_DATA).")
    epochs: int = cfg(1, "Passes over the training questions; training stops at the end of the last one.")
    shuffle: bool = cfg(True, "Shuffle the questions every epoch (seeded by data.seed and the epoch).")
    seed: int = cfg(0, "Shuffle seed.")
    limit: int = cfg(0, "Use only the first N questions (0 = all).")

    def validate(self) -> None:
        if self.epochs < 1:
            raise UserError(f"data.epochs must be >= 1, got {self.epochs}")
        if self.limit < 0:
            raise UserError(f"data.limit must be >= 0, got {self.limit}")


@dataclass
class HeldOutConfig:
    """Held-out evaluation before and after training (the same runner and graders as `asearcher eval`)."""

    enabled: bool = cfg(True, "Evaluate before and after training.")
    data: str = cfg("default", "Held-out QA file or benchmark name; 'default' = the embedded qa_test.jsonl.")
    questions: int = cfg(32, "Questions evaluated (the first N of the file).")
    k: int = cfg(1, "Samples per question.")
    concurrency: int = cfg(8, "Episodes in flight during evaluation.")
    temperature: float = cfg(-1.0, "Sampling temperature for evaluation; -1 = the training agent's temperature.")

    def validate(self) -> None:
        if self.questions < 1 or self.k < 1 or self.concurrency < 1:
            raise UserError(f"eval.questions, eval.k and eval.concurrency must be >= 1, got "
                            f"{self.questions}, {self.k}, {self.concurrency}")


@dataclass
class LoraConfig:
    """Optional LoRA adapters on the trainer's model (needs the optional `peft` package)."""

    enabled: bool = cfg(False, "Train LoRA adapters instead of all weights (the sync sends merged weights).")
    rank: int = cfg(16, "LoRA rank.")
    alpha: int = cfg(32, "LoRA alpha.")
    target_modules: list[str] = cfg(["q_proj", "k_proj", "v_proj", "o_proj"], "Modules that get adapters.")


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
class ClusterConfig:
    """Where the run's processes go: 'local' = everything in this process (the default, no Ray needed);
    'ray' = engines, rollout executor and trainer as Ray actors placed from the keys below
    (rl/placement.py, rl/ray_launcher.py, docs/scale-out.md); 'slurm' = start Ray inside the
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
            from asearcher.rl.placement import parse_allocation

            parse_allocation(self.allocation)  # syntax only; the GPU totals are checked when Ray is launched


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
