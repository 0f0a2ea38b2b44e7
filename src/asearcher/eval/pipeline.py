"""`aevaluate`: the whole evaluation of one agent on one dataset (what `asearcher eval` calls).

Load the questions, build the engine, tools and (optionally) the judge, run the resumable runner
into `<out>/results.jsonl`, then write the summary and plots. `<out>/run.json` records what the
results were produced with (`run_folder.py`), so that resuming into a folder made with other settings
fails loudly, naming them, instead of mixing results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher import paths
from asearcher.errors import UserError
from asearcher.eval.config import EvalConfig
from asearcher.eval.datasets import load_qa, resolve_dataset
from asearcher.eval.metrics import summarize
from asearcher.eval.report import write_report
from asearcher.eval.run_folder import prepare_run_folder, prompt_hash, record_settings, save_config_redacted
from asearcher.eval.runner import RunOptions, arun_eval
from asearcher.redact import redact_text

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class EvalRequest:
    """What to evaluate (the CLI flags)."""

    data: str | None = None  # path, benchmark name, or None for the embedded corpus's qa_test.jsonl
    data_root: str | None = None
    agent: str = "base"
    model: str | None = None  # path or URL; None = the embedded model
    retriever: str | None = None  # None = the embedded corpus's BM25 index
    k: int = 1
    concurrency: int = 4
    limit: int | None = None
    out: str | None = None
    judge: str | None = None  # judge server URL (or local model path)
    judge_model: str | None = None
    progress: bool = True
    force_new: bool = False  # move a previous run's files aside instead of resuming


def default_out_dir(req: EvalRequest, dataset: str) -> Path:
    """$ASEARCHER_HOME/eval/<dataset>-<agent>-<model>."""
    model = "embedded" if req.model is None else Path(req.model.rstrip("/")).name.replace(":", "_")
    return paths.home() / "eval" / f"{dataset}-{req.agent}-{model}"


def _make_judge(req: EvalRequest, config: EvalConfig) -> Any:
    if req.judge is None:
        return None
    from asearcher.engines.config import EngineConfig
    from asearcher.engines.factory import make_engine
    from asearcher.reward.judge import LLMJudge

    engine = make_engine(req.judge, config=EngineConfig(model=req.judge_model or "", mode="chat"))
    name = req.judge_model or redact_text(req.judge)  # the name is stored and sent: no credentials in it
    return LLMJudge(engine, model=name, cache_path=paths.home() / "judge_cache.sqlite",
                    max_new_tokens=config.judge_max_new_tokens)


async def aevaluate(req: EvalRequest, config: EvalConfig | None = None) -> dict[str, Any]:
    """Run the evaluation; returns {"summary", "out", "written"}. Resumes from `<out>/results.jsonl`."""
    from asearcher.agent.budget import afit_to_engine
    from asearcher.agent.factory import make_agent
    from asearcher.engines.factory import make_engine
    from asearcher.tools import aclose_tools
    from asearcher.tools.factory import make_tools

    config = config or EvalConfig()
    data_path = resolve_dataset(req.data, req.data_root)
    items = load_qa(data_path, limit=req.limit)
    out = Path(req.out) if req.out else default_out_dir(req, items[0].source)
    identity = {"data": str(data_path.resolve()), "agent": req.agent, "model": req.model or "embedded",
                "retriever": req.retriever or "embedded-bm25", "judge": req.judge, "judge_model": req.judge_model,
                "prompt_sha256": prompt_hash(), "settings": record_settings(config)}
    prepare_run_folder(out, identity, req.force_new)
    save_config_redacted(config, out / "config.yaml")
    engine = make_engine(req.model, config=config.engine)
    tools = make_tools(req.retriever, config.tools)
    judge = _make_judge(req, config)
    engines = [engine] + ([judge.engine] if judge else [])
    try:
        agent_config = await afit_to_engine(config.agent, engine)
        make_agent(req.agent, engine, tools, agent_config)  # fail on a bad kind/engine before starting
        records = await arun_eval(
            items,
            lambda: make_agent(req.agent, engine, tools, agent_config),
            out / "results.jsonl",
            RunOptions(k=req.k, concurrency=req.concurrency, f1_mode=config.f1_mode, progress=req.progress,
                       fsync=config.fsync, episode_timeout_s=config.episode_timeout_s),
            judge=judge,
        )
    finally:
        await aclose_tools(tools)
        for e in engines:
            if callable(close := getattr(e, "aclose", None)):
                await close()
    summary = summarize(records, req.k, config.f1_mode)
    meta = {**identity, "k": req.k, "questions": len(items), "results": str(out / "results.jsonl")}
    written = write_report(summary, records, out, meta)
    return {"summary": summary, "out": out, "written": written}
