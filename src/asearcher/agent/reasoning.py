"""ASearcher's agent for large reasoning models (QwQ-style): a fresh prompt every step.

Each acting step renders the question, the date and the `History` (its thoughts and actions, search
results, stubs of page parts, reading notes; never the hidden reasoning) into the prompt's `act`
text; the model writes a thought in <thought> </thought> and one action. Every tool result is then
read by a call of its own (`read_results` / `read_page`), whose notes go into the history.

Answer phase (ASearcher's force_turns): `act` offers only search and access; once the episode has
made `min_actions_before_answer` model steps (acting and reading calls, as ASearcher counts its
"act" records) or `answer_after_searches` searches, the prompt becomes `act_answer`, which offers
answering too. An earlier answer is refused with an observation in the history. The last allowed
step uses `answer_now`.

With a summary engine (summary.py) page parts are read by that external model instead: its notes
join the history, and no segment is added for them (the policy sampled nothing).

Every LLM call is its own `Segment` (prompt mask 0, sampled output mask 1), and may generate up to
the context left after its prompt (`AgentConfig.new_tokens_limit`; ASearcher: 31,000 minus the prompt).
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timezone

from asearcher.agent.actions import arun_tool
from asearcher.agent.config import AgentConfig
from asearcher.agent.context import agenerate_chat, sampling_kwargs
from asearcher.agent.history import History, clip
from asearcher.agent.observations import ASEARCHER, history_block, information, page_part, reading_content
from asearcher.agent.parsing import ACTIONS, hidden_thinking, parse_output, strip_hidden_thinking
from asearcher.agent.prompts import draw_valid_inst, select_prompt
from asearcher.agent.summary import make_summarizer
from asearcher.agent.trace import Trace
from asearcher.api import ContextLimitError, InferenceEngine, StopReason, Tool, ToolResult, Trajectory, Turn
from asearcher.tools import episode_tools

log = logging.getLogger(__name__)

# Room kept for a reading call's notes when its content is cut to fit (ASearcher reads only when the
# prompt is at most 28,000 of its 31,000 tokens).
READ_OUTPUT_RESERVE = 3000
_THOUGHT = re.compile(r"<thought>(.*?)</thought>", re.DOTALL)
_ACTION_TAGS = re.compile(r"<(search|access|answer)>.*?</\1>", re.DOTALL)


class _Aborted(Exception):
    """The engine aborted a call: the episode is rejected."""


def visible_thought(text: str) -> str:
    """The thought a step wrote for the record: its last <thought> block, else its visible text
    without action tags (hidden reasoning is never part of it)."""
    visible = strip_hidden_thinking(text)
    blocks = _THOUGHT.findall(visible)
    return (blocks[-1] if blocks else _ACTION_TAGS.sub("", visible)).strip()


class ReasoningAgent:
    """Fresh-prompt agent with ASearcher's history and answer phase."""

    name = "reasoning"

    def __init__(
        self,
        engine: InferenceEngine,
        tools: dict[str, Tool],
        config: AgentConfig | None = None,
        trace: Trace | None = None,
        summary_engine: InferenceEngine | None = None,
    ) -> None:
        self.engine = engine
        self.tools = tools
        self.config = config or AgentConfig(kind="reasoning")
        self.trace = trace or Trace()
        self.prompt = select_prompt(self.name, self.config.prompt, self.config.prompt_file)
        self.stop = [f"</{a}>" for a in ACTIONS]
        # An external model reading page parts instead of the policy (test time only; summary.py), or None.
        self.summarizer = make_summarizer(self.name, summary_engine, self.config)

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        """Run one episode; None when the engine aborted it."""
        traj = Trajectory(qid=qid, question=question, gold=list(gold or []), agent=self.name)
        traj.stop_reason = StopReason.TURN_LIMIT
        traj.metadata["prompt"] = self.prompt.name
        traj.metadata["valid_inst"] = draw_valid_inst(self.config, qid)
        try:
            await self._aloop(traj, episode_tools(self.tools), f"{self.name}-{qid or 'q'}-{uuid.uuid4().hex[:8]}")
        except _Aborted:
            log.info("episode %r aborted by the engine", qid)
            return None
        except ContextLimitError as e:  # the engine's window is smaller than our budget: end, keep the turns
            traj.stop_reason, traj.metadata["error"] = StopReason.CONTEXT_LIMIT, str(e)
        self.trace.end(traj)
        return traj

    def answer_phase(self, steps: int, searches: int) -> bool:
        """Whether answering is allowed after `steps` model steps and `searches` searches."""
        cfg = self.config
        return steps >= cfg.min_actions_before_answer or 0 < cfg.answer_after_searches <= searches

    async def _aloop(self, traj: Trajectory, tools: dict[str, Tool], rid: str) -> None:
        cfg = self.config
        first = traj.question if self.prompt.style == ASEARCHER else ""  # ASearcher's history opens with it
        history = History(cfg.history_chars, cfg.history_entry_chars, self.prompt.text("empty_history"), first)
        self.trace.start(traj.question, self.name)
        steps = searches = 0
        limit = cfg.turn_limit()
        for index in range(limit):
            forced = index == limit - 1
            open_ = forced or self.answer_phase(steps, searches)
            key = "answer_now" if forced else "act_answer" if open_ else "act"
            text, n_tokens = await self._acall(traj, self._render(key, traj, history), rid, True)
            parsed = parse_output(strip_hidden_thinking(text))
            turn = Turn(index=index, output=text, action=parsed.action, argument=parsed.argument,
                        format_ok=parsed.format_ok, error=parsed.error, gen_tokens=n_tokens)
            thought = visible_thought(text)
            turn.data.update(thought=thought, hidden=clip(hidden_thinking(text), 300), phase=key)
            traj.turns.append(turn)
            act = f"<think>{thought}</think>\n\n" + (f"<{parsed.action}>{parsed.argument}</{parsed.action}>"
                                                     if parsed.action != "none" else "")
            if parsed.action == "answer" and open_:
                traj.answer, traj.stop_reason = parsed.argument, StopReason.ANSWERED
                self.trace.turn(turn)
                return
            if parsed.action == "none":
                turn.observation = parsed.error
                history.add(index, "act", act.strip())
                history.add(index, "observation", information(parsed.error))
            elif parsed.action == "answer":
                turn.error = turn.observation = self.prompt.render(
                    "rejected_answer", answer=parsed.argument, required=cfg.min_actions_before_answer,
                    searches=cfg.answer_after_searches, done=steps, searched=searches)
                history.add(index, "act", act)
                history.add(index, "observation", information(turn.error))
                steps += 1
            elif not forced:
                assert parsed.argument is not None
                steps += 1
                history.add(index, "act", act)
                result, turn.tool_time_s = await arun_tool(tools, parsed.action, parsed.argument)
                searches += parsed.action == "search"
                turn.observation = result.text
                turn.data.update(result.data)
                turn.data["tool_ok"] = result.ok
                part = page_part(tools, parsed.argument, result) if parsed.action == "access" else ""
                notes = await self._aread(traj, history, parsed.action, parsed.argument, result, part, rid)
                steps += bool(notes)
                turn.data["notes"] = notes
                history.add(index, "page" if parsed.action == "access" and result.ok else "results",
                            history_block(self.prompt.style, parsed.action, result, part))
                if notes:
                    history.add(index, "notes", f"<think>{notes}</think>")
            self.trace.turn(turn)

    def _render(self, key: str, traj: Trajectory, history: History, **values: object) -> str:
        p = self.prompt
        date = self.config.current_date or datetime.now(timezone.utc).strftime("%Y.%m.%d")
        return p.render(key, question=traj.question, history=history.render(), date=date,
                        validity=p.validity(bool(traj.metadata.get("valid_inst", True))), **values)

    async def _acall(self, traj: Trajectory, prompt: str, rid: str, stop: bool) -> tuple[str, int]:
        """One LLM call on a fresh prompt; its segment is added to the trajectory."""
        cfg = self.config
        system = self.prompt.render("system", validity="")
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        result, seg, _ = await agenerate_chat(
            self.engine, messages, cfg.new_tokens_limit, stop=self.stop if stop else [], rid=rid,
            **sampling_kwargs(cfg),
        )
        if result.finish_reason == "abort":
            raise _Aborted
        if seg is not None:
            traj.segments.append(seg)
        return result.text, len(result.output_ids)

    async def _aread(self, traj: Trajectory, history: History, action: str, arg: str, result: ToolResult,
                     part: str, rid: str) -> str:
        """The model's notes on a tool result (a failed call needs no reading: its text is the record);
        `part` is the text of the page part an access showed."""
        if not result.ok:
            return ""
        if action == "search":
            frame = self._render("read_results", traj, history, query=arg, content="\0")
        elif self.summarizer is not None:  # its notes join the history; no segment: the policy sampled nothing
            d = result.data
            notes = await self.summarizer.anotes(
                traj.question, result.text, url=arg, title=str(d.get("title") or ""),
                part=d.get("chunk_index", 0) + 1, parts=d.get("num_chunks", "?"), rid=rid)
            if notes is None:
                raise _Aborted
            traj.turns[-1].data.update(notes_by="summary", summary_tokens=notes.tokens)
            return notes.text
        else:
            where = f"{result.data.get('chunk_index', 0) + 1} of {result.data.get('num_chunks', '?')}"
            frame = self._render("read_page", traj, history, url=arg, part=where, content="\0")
        content = reading_content(self.prompt.style, action, result, part)
        prompt = frame.replace("\0", self._fit(frame, content))
        text, _ = await self._acall(traj, prompt, rid, stop=False)
        return visible_thought(text)

    def _fit(self, frame: str, text: str) -> str:
        """Cut `text` so that frame + text leave room for the notes in the context (about 4 chars per
        token without a tokenizer)."""
        cfg, tok = self.config, self.engine.tokenizer
        reserve = cfg.max_new_tokens_per_turn or READ_OUTPUT_RESERVE
        room = cfg.context_limit() - reserve - 32  # 32: chat-template tokens
        if tok is None:
            return clip(text, max(0, (room - len(frame) // 4) * 4))
        room -= len(tok.encode(frame))
        ids = tok.encode(text)
        return text if len(ids) <= room else tok.decode(ids[: max(0, room)]) + " [...]"
