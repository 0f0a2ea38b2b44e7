"""The synthesis runner: output files, deterministic ids, resume, and the training loader reading the output."""

from __future__ import annotations

import json

from synth_fakes import Router, W, happy_replies, question_of

from asearcher.eval.datasets import load_qa
from asearcher.synth.agent import SynthesisAgent
from asearcher.synth.config import SynthConfig
from asearcher.synth.output import rejected_path, summary_path
from asearcher.synth.runner import arun_synth, plan_jobs


def mixed_router() -> Router:
    """Seeds from Alpha Town end accepted; from other pages the proposer's reply is unusable (failed)."""

    def action(req):  # inject once, stop once the question is hard
        return {"action": "stop"} if "river" in question_of(req) else {"action": "inject", "target": "Beta River"}

    def propose(req):
        if "Facts from the page 'Alpha Town'" in req.messages[-1]["content"]:
            return {"question": "Which town was founded in 1820?", "answer": "Alpha Town"}
        return "I cannot think of a question."

    return Router(**happy_replies(**{"choose-action": action, "propose-question": propose}))


def agent_of(router, store, graph) -> SynthesisAgent:
    return SynthesisAgent(
        router.engine, router.engine, store, graph, SynthConfig(direct_samples=2, max_edits=2, json_retries=0)
    )


def test_plan_jobs_is_deterministic_and_prefix_stable():
    seeds = [W + t for t in ("A", "B", "C", "D")]
    five, three = plan_jobs(seeds, 5, seed=1), plan_jobs(seeds, 3, seed=1)
    assert five[:3] == three and len({j.id for j in five}) == 5
    assert plan_jobs(seeds, 5, seed=1) == five and plan_jobs(seeds, 5, seed=2) != five
    assert all(j.id.startswith("synth-") for j in five)


async def test_run_writes_accepted_and_rejected_files_and_resumes(tmp_path, store, graph):
    jobs = plan_jobs(graph.seeds(), 6, seed=0)
    out = tmp_path / "out" / "synth.jsonl"
    router = mixed_router()
    summary = await arun_synth(agent_of(router, store, graph), jobs, out, concurrency=3, progress=False)
    accepted = [json.loads(x) for x in out.read_text().splitlines()]
    others = [json.loads(x) for x in rejected_path(out).read_text().splitlines()]
    assert len(accepted) + len(others) == 6 and summary["seeds"] == 6
    assert accepted and all(r["status"] == "accepted" for r in accepted)
    assert others and all(r["status"] in ("rejected", "failed") and r["reason"] for r in others)
    assert all(r["seed_url"] == W + "Alpha_Town" for r in accepted)
    assert summary["accepted"] == len(accepted) and json.loads(summary_path(out).read_text()) == summary
    for r in accepted:
        assert {"id", "question", "answer", "source", "facts", "pages", "history", "accuracy"} <= set(r)
        assert r["synth"]["index"] in range(6)
    assert sorted(r["id"] for r in accepted + others) == sorted(j.id for j in jobs)

    # Rerun: every id is done, so the model is never called; more seeds add only the new ones.
    calls = sum(router.calls.values())
    again = await arun_synth(agent_of(router, store, graph), jobs, out, progress=False)
    assert sum(router.calls.values()) == calls and again["seeds"] == 6
    more = plan_jobs(graph.seeds(), 8, seed=0)
    await arun_synth(agent_of(router, store, graph), more, out, progress=False)
    lines = out.read_text().splitlines() + rejected_path(out).read_text().splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == sorted(j.id for j in more)


async def test_torn_last_line_is_cut_and_that_seed_redone(tmp_path, store, graph):
    jobs = plan_jobs([W + "Alpha_Town"], 2, seed=0)
    out = tmp_path / "synth.jsonl"
    await arun_synth(agent_of(mixed_router(), store, graph), jobs[:1], out, progress=False)
    with out.open("a") as f:
        f.write('{"id": "' + jobs[1].id + '", "question": "half')  # a crash mid-write
    await arun_synth(agent_of(mixed_router(), store, graph), jobs, out, progress=False)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == [jobs[0].id, jobs[1].id]


async def test_training_loader_reads_the_accepted_file_unchanged(tmp_path, store, graph):
    jobs = plan_jobs([W + "Alpha_Town"], 3, seed=0)
    out = tmp_path / "synth.jsonl"
    await arun_synth(agent_of(mixed_router(), store, graph), jobs, out, progress=False)
    items = load_qa(str(out))  # what `asearcher eval --data PATH` (and training) uses
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [i.id for i in items] == [r["id"] for r in recs] and len(items) == 3
    assert all(i.golds == ["Alpha Town"] and i.question == r["question"] for i, r in zip(items, recs, strict=True))
    assert items[0].metadata["origin"] == "asearcher-synth" and items[0].metadata["pages"][0] == W + "Alpha_Town"
