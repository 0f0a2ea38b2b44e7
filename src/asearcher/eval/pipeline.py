"""`aevaluate`: the whole evaluation of one agent on one or more datasets (what `asearcher eval` calls).

Load the questions, build the engine, tools and (optionally) the judge and the aggregator, run the
resumable runner into `<out>/results.jsonl`, then write the summary and plots. With several datasets
(`--data hotpotqa,2wiki,musique`) each gets its own folder `<out>/<dataset>/` (results, summary, run
files) and `<out>/summary.*` adds an overall summary. Each folder's `run.json` records what its
results were produced with (`run_folder.py`), so that resuming into a folder made with other settings
fails loudly, naming them, instead of mixing results.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher import paths
from asearcher.errors import UserError
from asearcher.eval.aggregate import aaggregate, add_aggregate_metrics, write_aggregated
from asearcher.eval.config import EvalConfig
from asearcher.eval.datasets import load_qa, resolve_dataset
from asearcher.eval.metrics import overall_summary, summarize
from asearcher.eval.report import write_report
from asearcher.agent import prompt_record
from asearcher.agent.summary import check_summary_use, summary_record
from asearcher.eval.run_folder import prepare_run_folder, record_settings, save_config_redacted
from asearcher.eval.runner import RunOptions, arun_eval, sample_seed
from asearcher.redact import redact_text

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class EvalRequest:
    """What to evaluate (the CLI flags)."""

    data: str | None = None  # path or benchmark name (several: comma-separated); None = embedded qa_test.jsonl
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
    aggregator: str | None = None  # aggregator LLM (URL or model path) picking one of the k answers
    summary_model: str | None = None  # external LLM writing the notes on page parts (agent/summary.py)


def default_out_dir(req: EvalRequest, dataset: str) -> Path:
    """$ASEARCHER_HOME/eval/<dataset>-<agent>-<model>."""
    model = "embedded" if req.model is None else Path(req.model.rstrip("/")).name.replace(":", "_")
    return paths.home() / "eval" / f"{dataset}-{req.agent}-{model}"


@dataclass(slots=True)
class _Dataset:
    """One dataset of the run, and the folder its results go to."""

    path: Path
    items: list[Any]
    out: Path = Path()

    @property
    def name(self) -> str:
        return self.items[0].source


def data_specs(data: str | None) -> list[str | None]:
    """`--data` as a list of specs: several comma-separated names or paths, or one (a path that
    exists is taken whole, even with a comma in it)."""
    if data is None or "," not in data or Path(data).exists():
        return [data]
    specs = [part.strip() for part in data.split(",")]
    if not all(specs):
        raise UserError(f"--data {data!r}: an empty name between commas")
    return list(dict.fromkeys(specs))


def _load(req: EvalRequest) -> list[_Dataset]:
    """Every dataset, loaded before anything slow starts (a bad name fails at once)."""
    datasets = []
    for spec in data_specs(req.data):
        path = resolve_dataset(spec, req.data_root)
        datasets.append(_Dataset(path, load_qa(path, limit=req.limit)))
    names = [d.name for d in datasets]
    if len(set(names)) < len(names):
        raise UserError(f"--data {req.data!r}: two datasets share a name ({names}); give distinct files")
    return datasets


def _chat_engine(spec: str, model: str = "") -> Any:
    """An engine for a helper model (judge, aggregator, summary model): chat mode, named model."""
    from asearcher.engines.config import EngineConfig
    from asearcher.engines.factory import make_engine

    return make_engine(spec, config=EngineConfig(model=model, mode="chat"))


def _make_judge(req: EvalRequest, config: EvalConfig) -> Any:
    if req.judge is None:
        return None
    from asearcher.reward.judge import LLMJudge

    engine = _chat_engine(req.judge, req.judge_model or "")
    name = req.judge_model or redact_text(req.judge)  # the name is stored and sent: no credentials in it
    return LLMJudge(engine, model=name, cache_path=paths.home() / "judge_cache.sqlite",
                    max_new_tokens=config.judge_max_new_tokens)


async def aevaluate(req: EvalRequest, config: EvalConfig | None = None) -> dict[str, Any]:
    """Run the evaluation; returns {"summary", "out", "written"}. Resumes from each `results.jsonl`."""
    config = config or EvalConfig()
    if req.summary_model:
        check_summary_use(req.agent, config.agent)  # before any engine or run folder is made
    datasets = _load(req)
    names = [d.name for d in datasets]
    out = Path(req.out) if req.out else default_out_dir(req, "+".join(names))
    base = {"agent": req.agent, "model": req.model or "embedded", "retriever": req.retriever or "embedded-bm25",
            "judge": req.judge, "judge_model": req.judge_model, **summary_record(req.summary_model, config.agent),
            **prompt_record(dataclasses.replace(config.agent, kind=req.agent)),
            "settings": record_settings(config)}
    for d in datasets:
        d.out = out / d.name if len(datasets) > 1 else out
        prepare_run_folder(d.out, {"data": str(d.path.resolve()), **base}, req.force_new)
        save_config_redacted(config, d.out / "config.yaml")
    records, rows = await _arun_all(req, config, datasets)
    summaries, written = {}, {}
    for d in datasets:
        summaries.update(summarize(records[d.name], req.k, config.f1_mode, config.metrics))
    add_aggregate_metrics(summaries, rows, req.k)
    for d in datasets:
        if rows:
            write_aggregated([r for r in rows if r["dataset"] == d.name], d.out / "aggregated.jsonl")
        meta = {"data": str(d.path), **base, "k": req.k, "questions": len(d.items),
                "results": str(d.out / "results.jsonl")}
        written[d.name] = write_report({d.name: summaries[d.name]}, records[d.name], d.out, meta)
    if len(datasets) == 1:
        return {"summary": summaries, "out": out, "written": written[names[0]]}
    everything = [r for name in names for r in records[name]]
    summaries["overall"] = overall_summary({n: summaries[n] for n in names}, everything, req.k, config.f1_mode,
                                             config.metrics)
    meta = {"data": ", ".join(names), **base, "k": req.k, "questions": sum(len(d.items) for d in datasets),
            "folders": ", ".join(str(d.out) for d in datasets)}
    return {"summary": summaries, "out": out, "written": write_report(summaries, everything, out, meta)}


async def _arun_all(req: EvalRequest, config: EvalConfig,
                    datasets: list[_Dataset]) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Every dataset's records (one engine, tools and judge for all), and the aggregator's rows."""
    from asearcher.agent.budget import afit_to_engine
    from asearcher.agent.factory import make_agent
    from asearcher.engines.factory import make_engine
    from asearcher.tools import aclose_tools
    from asearcher.tools.factory import make_tools

    engine = make_engine(req.model, config=config.engine)
    tools = make_tools(req.retriever, config.tools)
    judge = _make_judge(req, config)
    aggregator = _chat_engine(req.aggregator) if req.aggregator else None
    summary = _chat_engine(req.summary_model) if req.summary_model else None
    opened = [e for e in (engine, judge.engine if judge else None, aggregator, summary) if e is not None]
    try:
        agent_config = await afit_to_engine(config.agent, engine)
        # Fail on a bad kind/engine (or a summary model the agent cannot use) before starting.
        make_agent(req.agent, engine, tools, agent_config, summary_engine=summary)

        def factory(sample: int) -> Any:  # sample s of k gets its own seed: the k samples differ
            seed = sample_seed(agent_config.seed, sample, req.k)
            return make_agent(req.agent, engine, tools, dataclasses.replace(agent_config, seed=seed),
                              summary_engine=summary)

        options = RunOptions(k=req.k, concurrency=req.concurrency, f1_mode=config.f1_mode, metrics=config.metrics,
                             progress=req.progress, fsync=config.fsync, episode_timeout_s=config.episode_timeout_s)
        records = {d.name: await arun_eval(d.items, factory, d.out / "results.jsonl", options, judge=judge)
                   for d in datasets}
        rows = []
        if aggregator is not None:
            everything = [r for rs in records.values() for r in rs]
            rows = await aaggregate(aggregator, everything, config.f1_mode, req.concurrency, config.metrics)
    finally:
        await aclose_tools(tools)
        for e in opened:
            if callable(close := getattr(e, "aclose", None)):
                await close()
    return records, rows
