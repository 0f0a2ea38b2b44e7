"""ASearcher's agent for base/instruct models: an append-only token context per episode.

The context is a `Segment`: the prompt (mask 0), then each generated output's exact ids (mask 1,
with the engine's logprobs and versions), then each observation's ids (mask 0). Nothing is
re-tokenised, so the ids the trainer sees are the ids the engine saw. Texts come from the selected
prompt (`agent.prompt`, prompts/builtin.yaml): its `format` is "chat" (the opening rendered with the
chat template) or "raw" (a completion prompt, as ASearcher trains base models); `reply_open` opens
every reply (e.g. "<think>\\n", mask 0, parsed with the output).

Page reading (`read_pages`, on by default; reading.py has the details): an <access> shows the
page's parts one per turn; in each such turn the model writes notes ending at </think> (mask 1),
then the part is replaced by a short stub (or, with a summary engine, an external model writes the
notes, added as context: summary.py). The context after a replacement is a new prompt, so it
starts a new `Segment` (earlier ids copied with mask 0: each sampled token is trained once, in the
segment that holds exactly what the engine saw when it sampled it); the replaced span is recorded
in the old segment's `shown_once`.

Budget: `max_context_tokens` bounds the context and `force_answer_margin` tokens are always kept
free for a final answer. On the last turn, or when only the margin is left, the agent injects the
prompt's `force_instruction` and "<answer>" (mask 0) and generates one final answer turn. An
observation that would eat into the margin is cut token-wise, keeping its frame whole, and marked
" [...]".

Chat turns (`chat_turns`, on by default for tokenizers with a chat template and chat prompts): each
observation opens a proper new turn: the reply is closed (unless the model closed it), a user turn
holds the observation, and a new assistant turn opens (`ChatFrame`; all mask 0). With
`chat_turns=off` (or a raw prompt) everything is plain text inside one reply, as in ASearcher and
Search-R1. `prefill_first_action` opens the first reply with "<search>" (mask 0), for models too
small to start the format on their own.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from asearcher.agent.actions import arun_tool
from asearcher.agent.chat_turns import ChatFrame
from asearcher.agent.config import AgentConfig
from asearcher.agent.context import TokenContext, sampling_kwargs
from asearcher.agent.observations import base_text
from asearcher.agent.parsing import ACTIONS, parse_output
from asearcher.agent.prompts import draw_valid_inst, select_prompt
from asearcher.agent.reading import PageReading
from asearcher.agent.summary import make_summarizer
from asearcher.agent.trace import Trace
from asearcher.api import (
    ContextLimitError, GenRequest, GenResult, InferenceEngine, StopReason, Tool, Trajectory, Turn,
)
from asearcher.errors import UserError
from asearcher.tools import episode_tools

log = logging.getLogger(__name__)

# Where the context ends after a turn (Turn.data["context_end"]):
OBSERVATION = "observation"  # after an observation: the next reply must be opened
REPLY = "reply"  # right after the model's reply (no observation appended: deferred page part, answer)
NOTES = "notes"  # inside the reply, after page notes: the model goes on writing it
DROPPED = "dropped"  # the observation did not fit the budget: the next turn is the forced answer


class BaseAgent:
    """The append-only ASearcher agent (<think>, <search>, <access>, <answer>)."""

    name = "base"
    actions: tuple[str, ...] = ACTIONS

    def __init__(
        self,
        engine: InferenceEngine,
        tools: dict[str, Tool],
        config: AgentConfig | None = None,
        trace: Trace | None = None,
        summary_engine: InferenceEngine | None = None,
    ) -> None:
        if engine.tokenizer is None:
            raise UserError(
                f"the {self.name!r} agent needs token ids (token-in/token-out) but this engine has no tokenizer; "
                "use a local model, an engine in 'completions' mode, or --agent reasoning / fc"
            )
        self.engine = engine
        self.tools = tools
        self.config = config or AgentConfig(kind=self.name)  # type: ignore[arg-type]
        self.trace = trace or Trace()
        self.prompt = select_prompt(self.name, self.config.prompt, self.config.prompt_file)
        self.stop = [f"</{a}>" for a in self.actions]
        raw = self.prompt.format == "raw"
        self.template = None if raw else ChatFrame.from_tokenizer(engine.tokenizer)
        if self.config.chat_turns == "on" and self.template is None:
            why = f"prompt {self.prompt.name!r} is raw text" if raw else "this tokenizer has no chat template"
            raise UserError(f"agent.chat_turns=on needs a chat prompt and a tokenizer with a chat template; {why}")
        # The frame used between turns; None = plain-text context.
        self.chat = None if self.config.chat_turns == "off" else self.template
        self.reads_pages = self.config.read_pages and "access" in self.actions
        # An external model writing the notes on page parts (test time only; summary.py), or None.
        self.summarizer = make_summarizer(self.name, summary_engine, self.config)

    def prompt_messages(self, question: str, valid: bool = True) -> list[dict[str, Any]]:
        """The chat that opens the episode (system message only when the prompt has one)."""
        p = self.prompt
        user = p.render("user", question=question, validity=p.validity(valid))
        system = p.render("system", validity=p.validity(valid))
        return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]

    def observation_frame(self, ok_result: bool) -> tuple[str, str]:
        """Head and tail around a tool's text (or around an invalid turn's error)."""
        tail = self.prompt.text("obs_tail")
        return self.prompt.text("obs_head"), (tail if ok_result else self.prompt.text("invalid_tail") or tail)

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        """Run one episode; None when the engine aborted it."""
        cfg, tok = self.config, self.engine.tokenizer
        assert tok is not None
        traj = Trajectory(qid=qid, question=question, gold=list(gold or []), agent=self.name)
        traj.stop_reason = StopReason.TURN_LIMIT
        traj.metadata["prompt"] = self.prompt.name
        valid = traj.metadata["valid_inst"] = draw_valid_inst(cfg, qid)
        tools = episode_tools(self.tools)
        ctx = TokenContext(tok, cfg.context_limit())
        ctx.add_prompt_ids(self._prompt_ids(question, valid))
        traj.segments.append(ctx.segment)
        reading = PageReading(self, ctx, traj, tools)
        rid = f"{self.name}-{qid or 'q'}-{uuid.uuid4().hex[:8]}"
        self.trace.start(question, self.name)
        limit, forced = cfg.turn_limit(), False
        for index in range(limit):
            last_end = traj.turns[-1].data.get("context_end") if traj.turns else None
            if index == limit - 1 or ctx.remaining <= cfg.force_answer_margin or last_end == DROPPED:
                forced = True
                reading.drop()
                if index == 0 and self.chat is not None:
                    # Nothing sampled yet: the instruction belongs in the question's own turn.
                    ctx.restart(self._prompt_ids(question, valid, force=True))
            elif reading.pending:
                turn = await reading.aturn(index, rid)
                if turn is None:
                    return None
                self._record(traj, turn)
                if turn.action == "answer":
                    break
                continue
            opening = self._open_reply(ctx, traj.turns, forced)
            max_new = min(cfg.new_tokens_limit(), ctx.remaining - (0 if forced else cfg.force_answer_margin))
            if max_new < 1:
                traj.stop_reason = StopReason.TOKEN_BUDGET
                break
            start = time.perf_counter()
            try:
                result = await self.engine.agenerate(GenRequest(
                    input_ids=ctx.ids, max_new_tokens=max_new, stop=self.stop, rid=rid, **sampling_kwargs(cfg)))
            except ContextLimitError as e:  # the engine's window is smaller than our budget: end, keep the turns
                traj.stop_reason, traj.metadata["error"] = StopReason.CONTEXT_LIMIT, str(e)
                break
            if result.finish_reason == "abort":
                log.info("episode %s aborted by the engine", rid)
                return None
            ctx.add_sampled(result, self.engine.version)
            turn = Turn(index=index, output=result.text, action="none", gen_tokens=len(result.output_ids))
            turn.gen_time_s = time.perf_counter() - start
            turn.data["eos"] = bool(result.output_ids) and result.output_ids[-1] == tok.eos_token_id
            if opening:
                turn.data["prefill"] = opening
            if forced:
                self._forced_answer(turn, result)
            else:
                await self._astep(turn, result, opening, tools, ctx, reading)
            self._record(traj, turn)
            if turn.action == "answer" or forced:
                if turn.action != "answer":
                    traj.stop_reason = StopReason.TURN_LIMIT if index == limit - 1 else StopReason.TOKEN_BUDGET
                break
        self.trace.end(traj)
        return traj

    def _record(self, traj: Trajectory, turn: Turn) -> None:
        traj.turns.append(turn)
        self.trace.turn(turn)
        if turn.action == "answer":
            traj.answer, traj.stop_reason = turn.argument, StopReason.ANSWERED

    def _prompt_ids(self, question: str, valid: bool, force: bool = False) -> list[int]:
        """The episode's opening ids: the chat rendered with its generation prompt (the plain text for
        a raw prompt or a tokenizer without a chat template); `force` adds the forced-answer instruction."""
        messages = self.prompt_messages(question, valid)
        if force:
            last = messages[-1]
            messages[-1] = {**last, "content": f"{last['content']}\n\n{self.prompt.text('force_instruction')}"}
        tok = self.engine.tokenizer
        assert tok is not None
        if self.template is None:
            sep = "" if self.prompt.format == "raw" else "\n\n"
            return tok.encode("\n\n".join(str(m["content"]) for m in messages) + sep)
        return tok.chat_ids(messages, add_generation_prompt=True)

    def _open_reply(self, ctx: TokenContext, turns: list[Turn], forced: bool) -> str:
        """Append what precedes the next sampled reply (mask 0); returns the text of it that belongs to
        the reply itself (parsed with the output), "" when none.

        After page notes the model simply goes on. Otherwise: plain text gets the reply opening (or the
        forced-answer instruction ending in "<answer>"); chat turns close what is open (the reply, unless
        an observation's user turn is), add the instruction to the user turn when forced, then open the
        assistant turn."""
        last_end = turns[-1].data.get("context_end") if turns else None
        if last_end == NOTES and not forced:
            return ""
        opening = self.prompt.text("reply_open")
        if not turns and self.config.prefill_first_action:
            opening += "<search>"
        force_text = self.prompt.text("force_instruction")
        if self.chat is None:
            ctx.add_text(f"\n\n{force_text}\n<answer>" if forced else opening)
            return "" if forced else opening
        text = ""
        if turns:
            observed = last_end == OBSERVATION
            if not observed:
                text += self.chat.close_assistant(bool(turns[-1].data.get("eos")))
            if forced:
                text += ("\n\n" if observed else "") + force_text
            elif not observed:  # the model closed its reply with nothing to show: ask for the next action
                text += self.prompt.text("next_instruction")
            text += self.chat.before_assistant
        text += "<answer>" if forced else opening
        if text:
            ctx.add_text(text)
        return "" if forced else opening

    def _ended_turn(self, result: GenResult) -> bool:
        """The model ended its reply itself: neither the token limit nor one of our stop strings."""
        return result.finish_reason == "stop" and not any(result.text.endswith(s) for s in self.stop)

    def _without_eos(self, text: str) -> str:
        """`text` without a trailing end-of-turn token (engines that report it keep it in the text)."""
        tok = self.engine.tokenizer
        eos = tok.decode([tok.eos_token_id]) if tok is not None and tok.eos_token_id is not None else ""
        return text.removesuffix(eos) if eos else text

    async def _astep(self, turn: Turn, result: GenResult, opening: str, tools: dict[str, Tool],
                     ctx: TokenContext, reading: PageReading) -> None:
        """Parse one output (after the injected `opening`, if any), run its tool, append the
        observation (budget-bounded) to the context, or hand a page to `reading`."""
        output = opening + result.text
        parsed = parse_output(self._without_eos(output), self.actions, ended_turn=self._ended_turn(result))
        turn.action, turn.argument = parsed.action, parsed.argument
        turn.format_ok, turn.error = parsed.format_ok, parsed.error
        turn.data["thought"] = parsed.think
        turn.data["context_end"] = REPLY
        if parsed.action == "answer":
            return
        if parsed.action == "none":
            body, ok = parsed.error, False
        else:
            assert parsed.argument is not None
            tool_result, turn.tool_time_s = await arun_tool(tools, parsed.action, parsed.argument)
            turn.data.update(tool_result.data)
            turn.data["tool_ok"] = tool_result.ok
            if parsed.action == "access" and self.reads_pages and reading.start(turn, tool_result):
                return  # the page's parts come in the next turns
            body, ok = base_text(self.prompt.style, parsed.action, tool_result), True
        turn.observation = body
        head, tail = self.observation_frame(ok)
        self.append_observation(ctx, turn, body, head, tail, self.config.max_observation_tokens, bool(turn.data["eos"]))

    def append_observation(self, ctx: TokenContext, turn: Turn, body: str, head: str, tail: str, limit: int,
                           sampled_eos: bool) -> None:
        """Append head + body + tail as context (a user turn of its own with chat turns, after the reply
        that ended with the EOS when `sampled_eos`), the body cut to fit `limit` tokens and the budget;
        sets turn.data observation_cut and context_end."""
        if self.chat is not None:
            head = self.chat.close_assistant(sampled_eos) + head.lstrip("\n")
            tail = tail.rstrip("\n")
        budget = min(limit, ctx.remaining - self.config.force_answer_margin)
        cut = ctx.add_bounded(head, body, tail, budget)
        turn.data["observation_cut"] = cut
        turn.data["context_end"] = DROPPED if cut is None else OBSERVATION

    def _forced_answer(self, turn: Turn, result: GenResult) -> None:
        """Read the answer of the forced turn; the injected text already opened <answer>."""
        text = result.text.split("</answer>", 1)[0].replace("<answer>", "")
        eos = self.engine.tokenizer.eos_token_id if self.engine.tokenizer else None
        if eos is not None and self.engine.tokenizer is not None:
            text = text.replace(self.engine.tokenizer.decode([eos]), "")
        # An answer is a short phrase: keep its first line (small models run on after it).
        answer = next((line.strip() for line in text.splitlines() if line.strip()), "")
        turn.data["forced"] = True
        turn.format_ok = "</answer>" in result.text
        other = [a for a in self.actions if a != "answer" and f"<{a}>" in result.text]
        if other:  # the model ignored the instruction: what it wrote is not an answer
            turn.format_ok = False
            turn.error = f"<{other[0]}> written after the forced-answer instruction."
        elif answer:
            turn.action, turn.argument = "answer", answer
        else:
            turn.error = "No answer given after the forced-answer instruction."
