"""`asearcher synth` as a library call: corpus + link graph + two engines -> synthesised QA files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher.api.engine import InferenceEngine
from asearcher.errors import UserError
from asearcher.paths import home
from asearcher.synth.agent import SynthesisAgent
from asearcher.synth.config import SynthConfig
from asearcher.synth.graph import LinkGraph
from asearcher.synth.runner import arun_synth, done_ids, plan_jobs

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class SynthRequest:
    """What to synthesise from, with what, and where to (the CLI flags).

    Attributes:
        corpus: corpus folder with pages.jsonl (+ links.jsonl); None = the embedded corpus.
        links: link file overriding `<corpus>/links.jsonl` (e.g. ASearcher's Wikipedia link JSON).
        pages: pages file overriding `<corpus>/pages.jsonl`.
        n: number of seed pages to try (accepted questions <= n).
        out: accepted-questions JSONL (default $ASEARCHER_HOME/synth/<corpus>-s<seed>.jsonl).
        proposer, verifier: engine specs (URL, model path, or None for the embedded model).
        seed: master seed (seed pages and ids).
        concurrency: seeds in flight at once.
    """

    corpus: str | None = None
    links: str | None = None
    pages: str | None = None
    n: int = 10
    out: str | None = None
    proposer: str | None = None
    verifier: str | None = None
    seed: int = 0
    concurrency: int = 4
    progress: bool = True


class _Idle:
    """Stands in for the models when every seed is already done; being called is a bug."""

    tokenizer = None
    version = 0

    async def agenerate(self, request: Any) -> Any:
        raise RuntimeError("no seed left to synthesise, yet a model was called")


def _corpus_files(req: SynthRequest) -> tuple[str, Path, Path]:
    if req.corpus is None:
        from asearcher.corpus.build import ensure_default_corpus

        paths = ensure_default_corpus()
        root, name = paths.root, "wiki-lead"
    else:
        root = Path(req.corpus).expanduser()
        if not root.is_dir() and not (req.pages and req.links):
            raise UserError(f"--corpus {req.corpus}: no such folder")
        name = root.name
    pages = Path(req.pages) if req.pages else root / "pages.jsonl"
    links = Path(req.links) if req.links else root / "links.jsonl"
    for what, p in (("pages", pages), ("links", links)):
        if not p.is_file():
            raise UserError(f"{p}: no {what} file (a corpus folder from `asearcher corpus build` has both)")
    return name, pages, links


def _make_engines(req: SynthRequest, config: SynthConfig) -> tuple[InferenceEngine, InferenceEngine]:
    from asearcher.engines.factory import make_engine

    proposer = make_engine(req.proposer, config=config.engine)
    # One model for both roles (the default) is loaded once.
    verifier = proposer if req.verifier == req.proposer else make_engine(req.verifier, config=config.engine)
    return proposer, verifier


async def _aclose(*engines: Any) -> None:
    for e in {id(e): e for e in engines}.values():
        close = getattr(e, "aclose", None)
        if close is not None:
            await close()


async def asynthesize(req: SynthRequest, config: SynthConfig | None = None) -> dict[str, Any]:
    """Run a synthesis job (resumable); returns the summary with the output paths."""
    from asearcher.corpus.page_store import JsonlPageStore

    config = config or SynthConfig()
    if req.n < 1 or req.concurrency < 1:
        raise UserError(f"--n and --concurrency must be >= 1 (got {req.n}, {req.concurrency})")
    name, pages_path, links_path = _corpus_files(req)
    store = JsonlPageStore(pages_path)
    graph = LinkGraph.load(links_path, known=set(store.urls()))
    seeds = graph.seeds()
    if not seeds:
        raise UserError(
            f"{links_path}: no page of {pages_path} has a linked page in the corpus; nothing to synthesise from"
        )
    out = Path(req.out) if req.out else home() / "synth" / f"{name}-s{req.seed}.jsonl"
    jobs = plan_jobs(seeds, req.n, req.seed)
    if not {j.id for j in jobs} - done_ids(out):  # nothing to do: do not load or start any model
        engine = _Idle()
        return await arun_synth(SynthesisAgent(engine, engine, store, graph, config), jobs, out, progress=req.progress)
    proposer, verifier = _make_engines(req, config)
    try:
        agent = SynthesisAgent(proposer, verifier, store, graph, config)
        meta = {"seed": req.seed, "proposer": req.proposer or "embedded", "verifier": req.verifier or "embedded"}
        summary = await arun_synth(agent, jobs, out, concurrency=req.concurrency, progress=req.progress, meta=meta)
    finally:
        await _aclose(proposer, verifier)
        store.close()
    return summary
