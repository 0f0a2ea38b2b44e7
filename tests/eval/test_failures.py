"""A failed episode never ends an eval run: a retrieval server that is down, hangs, answers 500,
invalid JSON or wrongly shaped JSON, a model server that refuses for context length or keeps failing,
and an episode past its wall-clock cap each end one episode with a typed stop, counted in the summary.
Our own bugs still raise.

The agent is the real BaseAgent with the real tools and retrieval client; the LLM is a ScriptedEngine
(a fake, for determinism) and the misbehaving servers are local fakes (`http_fakes`) standing in for
external servers that fail on cue.
"""

import time

import pytest
from eval_fakes import fixture_items
from http_fakes import LLAMACPP_OVERFLOW, FakeServer, closed_port_url, fixed, hanging_server, openai_model

from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.agent.reasoning import ReasoningAgent
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.config import EngineConfig
from asearcher.engines.openai_http import OpenAIEngine
from asearcher.engines.scripted import ScriptedEngine
from asearcher.eval.metrics import summarize
from asearcher.eval.report import summary_markdown
from asearcher.eval.runner import RunOptions, arun_eval
from asearcher.tools import aclose_tools
from asearcher.tools.config import ToolsConfig
from asearcher.tools.factory import make_tools

QUERY = "zebra stripes"


def search_then_answer(request) -> str:
    """Search once; once the query is in the context (the search turn ran), answer."""
    text = ByteTokenizer().decode(request.input_ids)
    return "<answer>Paris</answer>" if QUERY in text else f"<search>{QUERY}</search>"


async def run_against(retriever_url: str, tmp_path, *, timeout_s: float = 0.5, cap_s: float = 0.0):
    """Eval the six fixture questions with tools on `retriever_url`; returns (records, wall seconds)."""
    tools = make_tools(retriever_url, ToolsConfig(retrieval_timeout_s=timeout_s))
    engine = ScriptedEngine([search_then_answer], repeat_last=True)
    factory = lambda: BaseAgent(engine, tools, AgentConfig(max_context_tokens=8192, max_turns=3))  # noqa: E731
    start = time.perf_counter()
    try:
        records = await arun_eval(fixture_items(), factory, tmp_path / "results.jsonl",
                                  RunOptions(k=1, concurrency=3, progress=False, episode_timeout_s=cap_s))
    finally:
        await aclose_tools(tools)
    return records, time.perf_counter() - start


def tool_errors(records):
    return [t for r in records for t in r["trajectory"]["turns"] if t["data"].get("tool_ok") is False]


BAD_REPLIES = {
    "500": (500, {"detail": "internal error"}),
    "invalid JSON": (200, b"{not json"),
    "no result key": (200, {"hits": []}),
    "result not a list": (200, {"result": "x"}),
    "empty result list": (200, {"result": []}),
    "hit not an object": (200, {"result": [[1, 2]]}),
    "hits not a list": (200, {"result": [7]}),
    "document not an object": (200, {"result": [[{"document": 5, "score": 1.0}]]}),
    "score not a number": (200, {"result": [[{"document": {"title": "a", "text": "b"}, "score": "high"}]]}),
    "top level a list": (200, [1, 2, 3]),
    "two result lists for one query": (200, {"result": [[], []]}),
}


@pytest.mark.parametrize("name", list(BAD_REPLIES))
async def test_retriever_answering_garbage_becomes_an_observation(name, tmp_path):
    with FakeServer(fixed(*BAD_REPLIES[name])) as srv:
        records, _ = await run_against(srv.url, tmp_path)
    assert len(records) == 6  # every question got its record, the run finished
    assert all(r["stats"]["stop_reason"] == "answered" for r in records)  # the model read the error, went on
    assert len(tool_errors(records)) == 6
    observation = tool_errors(records)[0]["observation"]
    assert "unavailable" in observation or "could not be read" in observation  # says what failed


async def test_retriever_down(tmp_path):
    records, _ = await run_against(closed_port_url(), tmp_path)
    assert len(records) == 6 and len(tool_errors(records)) == 6
    assert "ConnectError" in tool_errors(records)[0]["observation"]


async def test_retriever_hanging_is_bounded_by_the_request_timeout(tmp_path):
    with hanging_server() as url:
        records, seconds = await run_against(url, tmp_path, timeout_s=0.3)
    assert len(records) == 6 and len(tool_errors(records)) == 6
    # 4 attempts x 0.3 s + backoff per search; 6 searches, 3 at a time (measured ~3 s).
    assert seconds < 20


async def test_episode_cap_ends_a_hung_episode_with_stop_timeout(tmp_path):
    with hanging_server() as url:
        records, seconds = await run_against(url, tmp_path, timeout_s=60, cap_s=0.5)
    assert [r["stats"]["stop_reason"] for r in records] == ["timeout"] * 6
    assert all(r["error"]["kind"] == "EpisodeTimeout" and r["scores"]["em"] == 0 for r in records)
    assert seconds < 10  # two rounds of 0.5 s caps, 3 at a time, not 6 x 60 s
    summary = summarize(records, 1)
    assert all(s["stop_reasons"] == {"timeout": s["samples"]} for s in summary.values())
    assert all(s["errors"] == {"EpisodeTimeout": s["samples"]} for s in summary.values())
    assert "EpisodeTimeout" in summary_markdown(summary)


async def test_model_server_refusing_for_context_length(tmp_path):
    with FakeServer(openai_model(refuse=LLAMACPP_OVERFLOW)) as srv:
        engine = OpenAIEngine(srv.url, EngineConfig(model="m", retries=0))
        factory = lambda: ReasoningAgent(engine, {}, AgentConfig(kind="reasoning", max_turns=2))  # noqa: E731
        records = await arun_eval(fixture_items(), factory, tmp_path / "r.jsonl", RunOptions(progress=False))
        await engine.aclose()
    assert [r["stats"]["stop_reason"] for r in records] == ["context_limit"] * 6
    assert "exceeds the available context size" in records[0]["trajectory"]["metadata"]["error"]


async def test_model_server_failing_is_a_typed_error_per_episode(tmp_path):
    with FakeServer(fixed(503, {"error": {"message": "overloaded"}})) as srv:
        engine = OpenAIEngine(srv.url, EngineConfig(model="m", retries=1, retry_backoff_s=0.01))
        factory = lambda: ReasoningAgent(engine, {}, AgentConfig(kind="reasoning", max_turns=2))  # noqa: E731
        records = await arun_eval(fixture_items(), factory, tmp_path / "r.jsonl", RunOptions(progress=False))
        await engine.aclose()
    assert [r["stats"]["stop_reason"] for r in records] == ["error"] * 6
    assert records[0]["error"]["kind"] == "HTTPEngineError" and "overloaded" in records[0]["error"]["message"]
    assert sum(sum(s["errors"].values()) for s in summarize(records, 1).values()) == 6


async def test_our_own_bug_still_ends_the_run(tmp_path):
    class Broken:
        async def arun(self, question, *, qid="", gold=None):
            raise KeyError("a bug of ours")

    with pytest.raises(KeyError, match="a bug of ours"):
        await arun_eval(fixture_items(), Broken, tmp_path / "r.jsonl", RunOptions(progress=False))
