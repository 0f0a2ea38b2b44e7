"""An agent over native OpenAI function calling (`tools` in the request, `tool_calls` in the reply),
for models served with a tool-call chat template. search / access / answer are functions.

It runs in messages mode, so its trajectories carry turns but no token segments (a chat server does
not expose the template's ids): it is for evaluation and `ask`, not for RL training. One call runs
per turn: extra parallel calls get a tool message saying so (the API needs a reply for every call id)
and clear `format_ok`. A reply with no tool call is taken as the final answer, as tool-calling
models do when they are done.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from asearcher.agent.actions import arun_tool
from asearcher.agent.config import AgentConfig
from asearcher.agent.context import sampling_kwargs
from asearcher.agent.parsing import parse_output, strip_hidden_thinking
from asearcher.agent.prompts import draw_valid_inst, select_prompt
from asearcher.agent.trace import Trace
from asearcher.api import GenRequest, InferenceEngine, StopReason, Tool, Trajectory, Turn
from asearcher.tools import episode_tools

log = logging.getLogger(__name__)

# The answer function: part of the tool-call contract, not prompt text.
ANSWER_TOOL = {
    "type": "function",
    "function": {
        "name": "answer",
        "description": "Give the final answer and end the task.",
        "parameters": {
            "type": "object",
            "properties": {"answer": {"type": "string", "description": "The short final answer."}},
            "required": ["answer"],
        },
    },
}


def tool_schemas(tools: dict[str, Tool]) -> list[dict[str, Any]]:
    """OpenAI `tools` entries for the given tools plus the answer function."""
    schemas = [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools.values()
    ]
    return schemas + [ANSWER_TOOL]


def _arguments(call: dict[str, Any]) -> dict[str, Any] | str:
    """The call's arguments as a dict, or the reason they cannot be read (shown to the model)."""
    raw = call.get("function", {}).get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as e:
        return f"The arguments are not valid JSON ({e}): {raw[:200]!r}"
    return args if isinstance(args, dict) else f"The arguments must be a JSON object, got {raw[:200]!r}"


class FunctionCallingAgent:
    """Native tool-calling loop over chat messages."""

    name = "fc"

    def __init__(
        self,
        engine: InferenceEngine,
        tools: dict[str, Tool],
        config: AgentConfig | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.engine = engine
        self.tools = tools
        self.config = config or AgentConfig(kind="fc")
        self.trace = trace or Trace()
        self.prompt = select_prompt(self.name, self.config.prompt, self.config.prompt_file)

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        """Run one episode; None when the engine aborted it."""
        cfg = self.config
        traj = Trajectory(qid=qid, question=question, gold=list(gold or []), agent=self.name)
        traj.stop_reason = StopReason.TURN_LIMIT
        tools = episode_tools(self.tools)
        schemas = tool_schemas(tools)
        valid = traj.metadata["valid_inst"] = draw_valid_inst(cfg, qid)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.prompt.render("system", validity=self.prompt.validity(valid))},
            {"role": "user", "content": question},
        ]
        rid = f"{self.name}-{qid or 'q'}-{uuid.uuid4().hex[:8]}"
        self.trace.start(question, self.name)
        limit = cfg.turn_limit()
        for index in range(limit):
            if index == limit - 1:
                messages.append({"role": "user", "content": self.prompt.text("force_answer")})
            start = time.perf_counter()
            result = await self.engine.agenerate(GenRequest(
                messages=list(messages), tools=schemas, max_new_tokens=cfg.new_tokens_limit(), rid=rid,
                **sampling_kwargs(cfg),
            ))
            if result.finish_reason == "abort":
                return None
            turn = Turn(index=index, output=result.text, action="none", gen_tokens=len(result.output_ids),
                        gen_time_s=time.perf_counter() - start)
            traj.turns.append(turn)
            if result.tool_calls:
                messages.append({"role": "assistant", "content": result.text or None, "tool_calls": result.tool_calls})
                await self._acalls(turn, result.tool_calls, tools, messages)
            else:
                self._text_reply(turn, result.text, messages)
            self.trace.turn(turn)
            if turn.action == "answer":
                traj.answer, traj.stop_reason = turn.argument, StopReason.ANSWERED
                break
        self.trace.end(traj)
        return traj

    async def _acalls(self, turn: Turn, calls: list[dict[str, Any]], tools: dict[str, Tool], messages: list) -> None:
        """Run the first call; answer every other call id with a note (one call per turn)."""
        first, *extra = calls
        name = first.get("function", {}).get("name", "")
        args = _arguments(first)
        if isinstance(args, str):
            observation, turn.format_ok, turn.error = args, False, args
        elif name == "answer" and str(args.get("answer", "")).strip():
            turn.action, turn.argument = "answer", str(args["answer"]).strip()
            observation = "Answer recorded."
        elif name in tools and name in ("search", "access"):
            key = "query" if name == "search" else "url"
            turn.action, turn.argument = name, str(args.get(key, ""))
            result, turn.tool_time_s = await arun_tool(tools, name, turn.argument)
            observation = result.text
            turn.data.update(result.data)
            turn.data["tool_ok"] = result.ok
        else:
            observation = f"Unknown function {name!r} or missing argument; use {[t['function']['name'] for t in tool_schemas(tools)]}."
            turn.format_ok, turn.error = False, observation
        turn.observation = observation
        messages.append({"role": "tool", "tool_call_id": first.get("id", ""), "content": observation})
        for call in extra:
            turn.format_ok = False
            messages.append({"role": "tool", "tool_call_id": call.get("id", ""),
                             "content": "Not run: call one function per turn."})

    def _text_reply(self, turn: Turn, text: str, messages: list) -> None:
        """A reply without a tool call: the final answer (an <answer> tag inside is honoured)."""
        visible = strip_hidden_thinking(text).strip()
        parsed = parse_output(visible, ("answer",))
        answer = parsed.argument if parsed.action == "answer" else visible
        if answer:
            turn.action, turn.argument = "answer", answer
            return
        turn.format_ok, turn.error = False, "Empty reply: call a function."
        turn.observation = turn.error
        messages.append({"role": "assistant", "content": text})
        messages.append({"role": "user", "content": turn.error})
