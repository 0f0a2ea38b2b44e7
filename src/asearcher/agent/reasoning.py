"""ASearcher's agent for large reasoning models (QwQ-style): a fresh prompt every step.

Each step renders the question and protocol at the top, then a compact `History` (hit titles and
URLs, stubs for page chunks already read, the model's notes; never its hidden thinking). Tool
results are read by separate LLM calls: one prompt extracts what a page chunk says about the
question, another what a result list says; only those notes enter the history. The answer phase
opens after `min_actions_before_answer` successful tool calls (the test-time-scaling knob); an
earlier answer is rejected with an observation. The last allowed step forces an answer.

Every LLM call is its own `Segment` (prompt mask 0, sampled output mask 1): the prompts are rebuilt
from scratch, so there is no shared token context to append to.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asearcher.agent import prompts
from asearcher.agent.actions import arun_tool, hit_titles
from asearcher.agent.config import AgentConfig
from asearcher.agent.context import agenerate_chat, sampling_kwargs
from asearcher.agent.history import History, clip
from asearcher.agent.parsing import ACTIONS, hidden_thinking, parse_output, strip_hidden_thinking
from asearcher.agent.trace import Trace
from asearcher.api import ContextLimitError, InferenceEngine, StopReason, Tool, ToolResult, Trajectory, Turn
from asearcher.tools import episode_tools

log = logging.getLogger(__name__)


class _Aborted(Exception):
    """The engine aborted a call: the episode is rejected."""


class ReasoningAgent:
    """Fresh-prompt agent with a compact history and a minimum-actions answer gate."""

    name = "reasoning"

    def __init__(
        self,
        engine: InferenceEngine,
        tools: dict[str, Tool],
        config: AgentConfig | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.engine = engine
        self.tools = tools
        self.config = config or AgentConfig(kind="reasoning")
        self.trace = trace or Trace()
        self.stop = [f"</{a}>" for a in ACTIONS]

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        """Run one episode; None when the engine aborted it."""
        traj = Trajectory(qid=qid, question=question, gold=list(gold or []), agent=self.name)
        traj.stop_reason = StopReason.TURN_LIMIT
        try:
            await self._aloop(traj, episode_tools(self.tools), f"{self.name}-{qid or 'q'}-{uuid.uuid4().hex[:8]}")
        except _Aborted:
            log.info("episode %r aborted by the engine", qid)
            return None
        except ContextLimitError as e:  # the engine's window is smaller than our budget: end, keep the turns
            traj.stop_reason, traj.metadata["error"] = StopReason.CONTEXT_LIMIT, str(e)
        self.trace.end(traj)
        return traj

    async def _aloop(self, traj: Trajectory, tools: dict[str, Tool], rid: str) -> None:
        cfg = self.config
        history = History(cfg.history_chars, cfg.history_entry_chars)
        self.trace.start(traj.question, self.name)
        n_actions, limit = 0, cfg.turn_limit()
        for index in range(limit):
            forced = index == limit - 1
            text, n_tokens = await self._acall(traj, self._act_prompt(traj.question, history, n_actions, forced), rid, True)
            parsed = parse_output(strip_hidden_thinking(text))
            turn = Turn(index=index, output=text, action=parsed.action, argument=parsed.argument,
                        format_ok=parsed.format_ok, error=parsed.error, gen_tokens=n_tokens)
            turn.data["thought"] = clip(hidden_thinking(text), 300)
            traj.turns.append(turn)
            if parsed.action == "answer":
                if forced or n_actions >= cfg.min_actions_before_answer:
                    traj.answer, traj.stop_reason = parsed.argument, StopReason.ANSWERED
                    self.trace.turn(turn)
                    return
                turn.error = prompts.REJECTED_ANSWER.format(
                    answer=parsed.argument, required=cfg.min_actions_before_answer, done=n_actions
                )
                turn.observation = turn.error
                history.add(index, "rejected answer", turn.error)
            elif parsed.action == "none":
                turn.observation = parsed.error
                history.add(index, "invalid output", parsed.error)
            elif not forced:
                assert parsed.argument is not None
                result, turn.tool_time_s = await arun_tool(tools, parsed.action, parsed.argument)
                turn.observation = result.text
                turn.data.update(result.data)
                turn.data["tool_ok"] = result.ok
                n_actions += int(result.ok)
                notes = await self._aread(traj, history, parsed.action, parsed.argument, result, rid)
                turn.data["notes"] = notes
                history.add(index, parsed.action, self._entry(parsed.action, parsed.argument, result, notes))
            self.trace.turn(turn)

    def _act_prompt(self, question: str, history: History, n_actions: int, forced: bool) -> str:
        remaining = self.config.min_actions_before_answer - n_actions
        if forced:
            phase = prompts.PHASE_FORCE
        elif remaining > 0:
            phase = prompts.PHASE_EXPLORE.format(remaining=remaining)
        else:
            phase = prompts.PHASE_OPEN
        return prompts.REASONING_ACT.format(
            protocol=prompts.REASONING_PROTOCOL, question=question, n_actions=n_actions,
            history=history.render(), phase=phase,
        )

    async def _acall(self, traj: Trajectory, prompt: str, rid: str, stop: bool) -> tuple[str, int]:
        """One LLM call on a fresh prompt; its segment is added to the trajectory."""
        cfg = self.config
        result, seg, _ = await agenerate_chat(
            self.engine, [{"role": "user", "content": prompt}], max_new_tokens=cfg.max_new_tokens_per_turn,
            stop=self.stop if stop else [], rid=rid, **sampling_kwargs(cfg),
        )
        if result.finish_reason == "abort":
            raise _Aborted
        if seg is not None:
            traj.segments.append(seg)
        return result.text, len(result.output_ids)

    async def _aread(self, traj: Trajectory, history: History, action: str, arg: str, result: ToolResult, rid: str) -> str:
        """The model's notes on a tool result (a failed call needs no reading: its text is the note)."""
        if not result.ok:
            return ""
        q, hist = traj.question, history.render()
        if action == "search":
            frame = prompts.REASONING_READ_RESULTS.format(question=q, history=hist, query=arg, text="{text}")
        else:
            part = f"{result.data.get('chunk_index', 0) + 1} of {result.data.get('num_chunks', '?')}"
            frame = prompts.REASONING_READ_PAGE.format(question=q, history=hist, url=arg, chunk=part, text="{text}")
        prompt = frame.replace("{text}", self._fit(frame, result.text))
        text, _ = await self._acall(traj, prompt, rid, stop=False)
        return clip(strip_hidden_thinking(text), self.config.history_entry_chars)

    def _fit(self, frame: str, text: str) -> str:
        """Cut `text` so that frame + text + the output fit `max_context_tokens` (about 4 chars/token
        without a tokenizer)."""
        cfg, tok = self.config, self.engine.tokenizer
        room = cfg.max_context_tokens - cfg.max_new_tokens_per_turn - 32  # 32: chat-template tokens
        if tok is None:
            return clip(text, max(0, (room - len(frame) // 4) * 4))
        room -= len(tok.encode(frame))
        ids = tok.encode(text)
        return text if len(ids) <= room else tok.decode(ids[: max(0, room)]) + " [...]"

    @staticmethod
    def _entry(action: str, arg: str, result: ToolResult, notes: str) -> str:
        """History text of a tool step: what was done, where to find it again, and the notes."""
        if not result.ok:
            return f"{action} {arg!r} failed: {clip(result.text, 200)}"
        if action == "search":
            hits = result.data.get("hits") or []
            where = "; ".join(f"{t} <{h.get('url', '')}>" for t, h in zip(hit_titles(result.data), hits, strict=False))
            return f"searched {arg!r}. Results: {where or 'none'}. Notes: {notes}"
        stub = result.data.get("stub") or f"[{arg}]"
        return f"read {stub}. Notes: {notes}"
