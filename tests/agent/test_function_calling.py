"""FunctionCallingAgent with a fake chat engine that returns OpenAI tool_calls: a fake of an LLM
served with a tool-call template (none can run here), scripted so the loop can be checked exactly."""

import json

from asearcher.agent.config import AgentConfig
from asearcher.agent.function_calling import FunctionCallingAgent
from asearcher.api import GenResult, StopReason


class ToolCallingFake:
    tokenizer = None
    version = 0

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []

    async def agenerate(self, request):
        self.requests.append(request)
        return self.replies.pop(0)


def call(name, cid="c1", **args):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


async def test_function_calls_run_tools_and_answer(tools):
    engine = ToolCallingFake([
        GenResult([], "", tool_calls=[call("search", query="Mona Lisa"), call("search", "c2", query="extra")]),
        GenResult([], "", tool_calls=[{"id": "c3", "type": "function", "function": {"name": "access", "arguments": "{bad"}}]),
        GenResult([], "", tool_calls=[call("access", "c4", url="https://en.wikipedia.org/wiki/Mona_Lisa")]),
        GenResult([], "", tool_calls=[call("answer", "c5", answer="Leonardo da Vinci")]),
    ])
    traj = await FunctionCallingAgent(engine, tools, AgentConfig(kind="fc")).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert [t.action for t in traj.turns] == ["search", "none", "access", "answer"]
    assert not traj.turns[0].format_ok  # two calls in one turn: only the first ran
    assert "not valid JSON" in traj.turns[1].observation
    assert traj.turns[2].data["chunk_index"] == 0
    names = [t["function"]["name"] for t in engine.requests[0].tools]
    assert names == ["search", "access", "answer"]
    msgs = engine.requests[1].messages
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool"]
    assert msgs[3]["tool_call_id"] == "c1" and "Mona Lisa" in msgs[3]["content"]
    assert msgs[4]["tool_call_id"] == "c2" and "one function per turn" in msgs[4]["content"]
    assert traj.segments == []  # messages mode: nothing to train on


async def test_plain_text_reply_is_the_answer_and_last_turn_forces_it(tools):
    engine = ToolCallingFake([GenResult([], "", tool_calls=[call("search", query="Louvre")]), GenResult([], "Paris")])
    traj = await FunctionCallingAgent(engine, tools, AgentConfig(kind="fc", max_turns=2)).arun("Where is the Louvre?")
    assert traj.answer == "Paris"
    assert "answer tool now" in engine.requests[-1].messages[-1]["content"]
