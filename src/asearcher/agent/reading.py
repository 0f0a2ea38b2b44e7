"""ASearcher's page reading for the append-only agent: each part of a page is shown once, in a turn
whose only job is the model's notes on it; later context keeps a stub of the part and the notes.

    turn k (action "access"):  ...<access>URL</access>             the access tool gives part 1
    turn k+1 (action "read"):  <read_head> part 1 <read_tail><notes_open> notes</think>
                               then part 1 is replaced by its stub: a new Segment continues
    turn k+2 (action "read"):  the same for part 2 (the agent asks the access tool for it) ...
    next turn:                 the model goes on after its last notes with its next action

Parts come from the access tool (tools.chunk_chars each, at most tools.max_chunks per page:
ASearcher's 25,000 and 10). A part is bounded only by the context budget, less room for the notes
and the answer margin, not by max_observation_tokens: it leaves the context right after. The notes
(stopped at </think>) are sampled tokens, trained with loss mask 1 in the segment where the part
was whole, and stay (as context) in every later segment. An <answer> written inside the notes ends
the episode, as in ASearcher; other actions there are not run.

The stub is the access tool's placeholder (native style), or the part's first 100 characters in its
frame, as ASearcher keeps it (prompts of style "asearcher"; observations.py).

With an external summary model (summary.py) the part goes to it instead: the policy's context gets
the stub and the summary model's notes as context (mask 0), where its own notes would have been.
"""

from __future__ import annotations

import time
from typing import Protocol

from asearcher.agent.actions import arun_tool
from asearcher.agent.chat_turns import ChatFrame
from asearcher.agent.config import AgentConfig
from asearcher.agent.context import TokenContext, sampling_kwargs
from asearcher.agent.observations import page_part, part_stub
from asearcher.agent.parsing import parse_output
from asearcher.agent.prompts import PromptSet, fill
from asearcher.agent.summary import PageSummarizer
from asearcher.api import GenRequest, InferenceEngine, Tool, ToolResult, Trajectory, Turn



class ReadingAgent(Protocol):
    """What page reading needs of its agent (`BaseAgent` has it); a Protocol, so that reading.py does
    not import base.py, which imports it."""

    engine: InferenceEngine
    config: AgentConfig
    prompt: PromptSet
    chat: ChatFrame | None
    actions: tuple[str, ...]
    summarizer: PageSummarizer | None

    def append_observation(self, ctx: TokenContext, turn: Turn, body: str, head: str, tail: str, limit: int,
                           sampled_eos: bool) -> None: ...

    def _without_eos(self, text: str) -> str: ...

NOTES_STOP = "</think>"


class PageReading:
    """One episode's reading state: the next part of the page being read, if any."""

    def __init__(self, agent: ReadingAgent, ctx: TokenContext, traj: Trajectory, tools: dict[str, Tool]) -> None:
        self.agent, self.ctx, self.traj, self.tools = agent, ctx, traj, tools
        self.pending: ToolResult | None = None
        self.url = ""

    def start(self, turn: Turn, result: ToolResult) -> bool:
        """Take the result of an <access>: True when it is a page part (it is then shown in the next
        turn and nothing is appended now); False for anything else (an error, a page already read)."""
        if not result.ok or "chunk_index" not in result.data:
            return False
        self.pending, self.url = result, turn.argument or ""
        return True

    def drop(self) -> None:
        """Stop reading (the episode must answer now)."""
        self.pending = None

    async def aturn(self, index: int, rid: str) -> Turn | None:
        """Show the pending part and get the notes on it (the policy's, or the summary model's), then
        fetch the next part. None when an engine aborted the call."""
        agent = self.agent
        result, self.pending = self.pending, None
        assert result is not None
        data = result.data
        where = {"part": data["chunk_index"] + 1, "parts": data.get("num_chunks", "?"),
                 "title": data.get("title") or "(untitled)", "url": data.get("page_url") or self.url}
        turn = Turn(index=index, output="", action="read", argument=self.url)
        turn.observation = page_part(self.tools, self.url, result)
        turn.data.update({k: data[k] for k in ("url", "page_url", "title", "chunk_index", "num_chunks", "stub") if k in data})
        stub = part_stub(agent.prompt.style, turn.observation,
                         str(data.get("stub") or f"[part {where['part']} of {where['url']} shown earlier]"))
        if agent.summarizer is None:
            done = await self._apolicy_notes(turn, where, stub, rid)
        else:
            done = await self._asummary_notes(turn, where, stub, rid)
        if done is None:
            return None
        if done and turn.action != "answer" and not data.get("finished"):
            nxt, spent = await arun_tool(self.tools, "access", self.url)
            turn.tool_time_s = spent
            if nxt.ok and "chunk_index" in nxt.data:
                self.pending = nxt
        return turn

    def _frame(self, where: dict[str, object]) -> tuple[str, str, str, int]:
        """Head and tail around a part, the text opening the notes, and the room left for the part."""
        agent, ctx, cfg = self.agent, self.ctx, self.agent.config
        p = agent.prompt
        head = fill(p.text("read_head") or p.text("obs_head"), **where)
        tail = fill(p.text("read_tail") or p.text("obs_tail"), **where)
        opening = (agent.chat.before_assistant if agent.chat is not None else "") + p.text("notes_open")
        room = ctx.remaining - cfg.force_answer_margin - cfg.new_tokens_limit() - len(ctx.tokenizer.encode(opening))
        return head, tail, opening, max(0, room)

    async def _apolicy_notes(self, turn: Turn, where: dict[str, object], stub: str, rid: str) -> bool | None:
        """The policy reads the part whole and writes its notes (mask 1); the part is then replaced by
        `stub` in a new segment. False when the part did not fit, None when the engine aborted."""
        agent, ctx, cfg = self.agent, self.ctx, self.agent.config
        head, tail, opening, room = self._frame(where)
        after_eos = bool(self.traj.turns[-1].data.get("eos"))  # how the reply before this part ended
        agent.append_observation(ctx, turn, turn.observation, head, tail, room, after_eos)
        if turn.data["context_end"] == "dropped":
            return False  # not even the frame fits: the next turn is the forced answer
        span = ctx.last_body
        ctx.add_text(opening)
        start = time.perf_counter()
        n_new = min(cfg.new_tokens_limit(), ctx.remaining - cfg.force_answer_margin)
        gen = await agent.engine.agenerate(GenRequest(
            input_ids=ctx.ids, max_new_tokens=max(1, n_new),
            stop=[NOTES_STOP], rid=rid, **sampling_kwargs(cfg),
        ))
        if gen.finish_reason == "abort":
            return None
        ctx.add_sampled(gen, agent.engine.version)
        turn.gen_time_s, turn.gen_tokens = time.perf_counter() - start, len(gen.output_ids)
        turn.data["notes_by"] = "policy"
        self._read_notes(turn, gen.text, bool(gen.output_ids) and gen.output_ids[-1] == ctx.tokenizer.eos_token_id)
        self.traj.segments.append(ctx.replace(span, ctx.tokenizer.encode(stub)))
        return True

    async def _asummary_notes(self, turn: Turn, where: dict[str, object], stub: str, rid: str) -> bool | None:
        """The summary model reads the part; the policy's context gets what it would hold after reading
        it itself: the part's stub in its frame, then the notes, all context (mask 0, not trained). The
        part never enters the policy's context, so no new segment. False when the notes did not fit."""
        agent, ctx, cfg = self.agent, self.ctx, self.agent.config
        assert agent.summarizer is not None
        notes = await agent.summarizer.anotes(self.traj.question, turn.observation, rid=rid,
                                              **where)  # type: ignore[arg-type]
        if notes is None:
            return None
        turn.gen_time_s = notes.seconds
        turn.data.update(notes=notes.text, notes_by="summary", summary_tokens=notes.tokens, eos=False)
        head, tail, opening, _ = self._frame(where)
        after_eos = bool(self.traj.turns[-1].data.get("eos"))
        agent.append_observation(ctx, turn, stub, head, tail, cfg.max_observation_tokens, after_eos)
        if turn.data["context_end"] == "dropped":
            return False
        cut = ctx.add_bounded(opening, notes.text, NOTES_STOP, ctx.remaining - cfg.force_answer_margin)
        turn.data["notes_cut"] = cut
        turn.data["context_end"] = "dropped" if cut is None else "notes"  # the policy goes on after the notes
        return cut is not None

    def _read_notes(self, turn: Turn, text: str, eos: bool) -> None:
        """Record the notes; close an unclosed note (mask 0) so the context stays well formed."""
        agent = self.agent
        turn.output = text
        notes = agent._without_eos(text)
        turn.data["eos"] = eos
        turn.data["notes"] = notes.removesuffix(NOTES_STOP).strip()
        turn.data["context_end"] = "reply" if eos else "notes"  # after EOS the model closed its reply
        if not notes.endswith(NOTES_STOP):
            turn.format_ok, turn.error = False, f"The notes on this part were not closed by {NOTES_STOP}."
            if not eos:
                self.ctx.add_text(NOTES_STOP)
        parsed = parse_output(agent.prompt.text("notes_open") + notes, agent.actions)
        if parsed.action == "answer":
            turn.action, turn.argument = "answer", parsed.argument
