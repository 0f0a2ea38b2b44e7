"""Small parts for training-loop tests: a tiny random Qwen2 over ByteTokenizer ids, a one-call agent,
scripted engines that accept weight updates, and a reward that varies within a group."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from asearcher.api.engine import GenRequest
from asearcher.api.trajectory import Segment, StopReason, Trajectory
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.scripted import ScriptedEngine
from asearcher.engines.transformers_engine import TransformersEngine
from asearcher.eval.datasets import QAItem
from asearcher.rl.config import TrainConfig
from asearcher.rl.rollout.data import TrainData
from asearcher.rl.run.components import TrainComponents


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    return Qwen2ForCausalLM(cfg).eval()


def items(n: int = 4) -> list[QAItem]:
    return [QAItem(id=f"q{i}", question=f"question {i}?", golds=[f"a{i}"], source="toy") for i in range(n)]


class ToyAgent:
    """One generation on the chat-rendered question; the output text is the answer."""

    name = "toy"

    def __init__(self, engine, seed: int | None, max_new_tokens: int = 6, temperature: float = 1.0) -> None:
        self.engine, self.seed, self.max_new, self.temperature = engine, seed, max_new_tokens, temperature

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        tok = self.engine.tokenizer
        prompt = tok.chat_ids([{"role": "user", "content": question}])
        res = await self.engine.agenerate(GenRequest(input_ids=prompt, max_new_tokens=self.max_new,
                                                     temperature=self.temperature, seed=self.seed))
        if res.finish_reason == "abort":
            return None
        seg = Segment()
        seg.append_context(prompt)
        seg.append_sampled(res.output_ids, res.logprobs, res.versions)
        return Trajectory(qid=qid, question=question, answer=res.text, stop_reason=StopReason.ANSWERED,
                          segments=[seg], gold=list(gold or []), agent="toy")


async def low_byte_reward(traj: Trajectory) -> float:
    """Fraction of sampled ids below 128: differs between random samples, so groups are kept."""
    ids = [i for s in traj.segments for i, m in zip(s.token_ids, s.loss_mask) if m]
    return sum(1 for i in ids if i < 128) / len(ids)


class UpdatableScriptedEngine(ScriptedEngine):
    """A ScriptedEngine whose weights "update": only the version changes."""

    async def aupdate_weights(self, source, version: int) -> None:
        self.version = version


def tiny_config(tmp_path: Path, **rollout) -> TrainConfig:
    c = TrainConfig()
    c.out_dir = str(tmp_path)
    c.total_steps = 3
    c.rollout.group_size = rollout.get("group_size", 2)
    c.rollout.batch_questions = rollout.get("batch_questions", 2)
    c.rollout.max_staleness = rollout.get("max_staleness", 1)
    c.rollout.max_concurrent = rollout.get("max_concurrent", 8)
    c.trainer.lr = 1e-2
    c.trainer.max_tokens_per_mb = 512
    c.filter.enabled = False
    c.eval.enabled = False
    c.checkpoint.every_steps = 1
    c.validate()
    return c


def tiny_parts(config: TrainConfig, n_items: int = 4, seed: int = 0, engine_model=None) -> TrainComponents:
    """Trainer and engine hold separate copies of the same tiny model (like build_components)."""
    model = tiny_model(seed) if engine_model is None else engine_model
    engine = TransformersEngine(model, ByteTokenizer(), max_batch_size=8, seed=0)
    data = TrainData(items(n_items), epochs=config.data.epochs, shuffle=True, seed=0)
    return TrainComponents(trainer_model=copy.deepcopy(model).train(), engine=engine,
                           agent_factory=lambda s: ToyAgent(engine, s), reward_fn=low_byte_reward, data=data,
                           eval_items=items(2), eval_agent_factory=lambda: ToyAgent(engine, None, temperature=0.0),
                           closers=[engine.aclose])
