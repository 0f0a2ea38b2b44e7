"""Held-out evaluation of a training run, shared by every stage that scores weights (shipped model,
after the SFT warm start, after RL): the `asearcher eval` runner and graders on the same questions."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asearcher.agent.config import AgentConfig
from asearcher.api.agent import Agent
from asearcher.api.engine import InferenceEngine
from asearcher.api.qa import QAItem
from asearcher.eval.datasets import load_qa
from asearcher.rl.config import TrainConfig

SUMMARY = "eval_summary.json"


def eval_setup(config: TrainConfig, engine: InferenceEngine, tools: dict[str, Any],
               agent: Callable[[], AgentConfig]) -> tuple[list[QAItem], Callable[[], Agent]]:
    """The held-out questions and an agent factory on `engine`: the run's agent as `agent()` gives it when
    an episode starts (fitted to the engine's window), with evaluation sampling."""
    from asearcher.agent.factory import make_agent

    from asearcher.corpus.tasks import embedded_qa_file

    # An embedded task name ("default", "facts") means its held-out split, never its training one.
    spec = str(embedded_qa_file(config.eval.data, "test") or config.eval.data)
    items = load_qa(spec, config.data.data_root or None, limit=config.eval.questions)
    t = config.eval.temperature if config.eval.temperature >= 0 else config.agent.temperature

    def factory() -> Agent:
        agent_config = dataclasses.replace(agent(), temperature=t, seed=None)  # engine-seeded
        return make_agent(config.agent.kind, engine, tools, agent_config)

    return items, factory


async def aevaluate(items: list[QAItem], agent_factory: Callable[[], Agent], out: Path, config: TrainConfig,
                    weights: str, progress: bool = True) -> dict[str, Any]:
    """Run the held-out episodes; summary (`eval.metrics.summarize`) also saved as `out`/eval_summary.json."""
    from asearcher.eval.metrics import summarize
    from asearcher.eval.report import write_report as write_eval_report
    from asearcher.eval.runner import RunOptions, arun_eval

    e = config.eval
    records = await arun_eval(items, agent_factory, out / "results.jsonl",
                              RunOptions(k=e.k, concurrency=e.concurrency, progress=progress))
    summary = summarize(records, e.k)
    write_eval_report(summary, records, out, {"weights": weights})
    (out / SUMMARY).write_text(json.dumps(summary, indent=1))
    return summary


def load_summary(out: Path) -> dict[str, Any] | None:
    """The saved summary of a finished evaluation in `out`, or None."""
    p = Path(out) / SUMMARY
    return json.loads(p.read_text()) if p.is_file() else None
