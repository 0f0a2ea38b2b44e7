"""ASearcher's agent for base/instruct models: one append-only token context per episode.

The context is one `Segment`: the chat-rendered prompt (mask 0), then each generated output's exact
ids (mask 1, with the engine's logprobs and versions), then each observation's ids (mask 0). Nothing
is re-tokenised, so the ids the trainer sees are the ids the engine saw. After a tool result the
observation names the next moves (answer from the results, or search again); any <think> notes the
model writes are sampled tokens and are trained.

Budget: `max_context_tokens` bounds the whole context and `force_answer_margin` tokens are always
kept free for a final answer. On the last turn, or when only the margin is left, the agent injects
an instruction ending in "<answer>" (mask 0) and generates one final answer turn. An observation that
would eat into the margin (typically a long page chunk) is cut token-wise, keeping its closing tag
and instruction whole, and marked " [...]"; the access tool still advances to the next chunk, so the
model can read on.

Chat turns (`chat_turns`, on by default for tokenizers with a chat template): an instruct model ends
its reply with its end-of-turn token, so each observation opens a proper new turn instead of being
glued into the reply: the reply is closed (unless the model closed it), a user turn holds the
observation, and a new assistant turn opens (`ChatFrame`, text taken from the model's own template;
all mask 0). The forced-answer instruction then goes in that user turn and the new reply starts with
"<answer>". With `chat_turns=off` everything is plain text inside one reply, as in Search-R1.
`prefill_first_action` opens the first reply with "<search>" (mask 0), for models too small to start
the format on their own; parsing sees the injected opening, `Turn.output` only the sampled text.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from asearcher.agent import prompts
from asearcher.agent.actions import arun_tool
from asearcher.agent.chat_turns import ChatFrame
from asearcher.agent.config import AgentConfig
from asearcher.agent.context import TokenContext, sampling_kwargs
from asearcher.agent.parsing import ACTIONS, parse_output
from asearcher.agent.trace import Trace
from asearcher.api import (
    ContextLimitError, GenRequest, GenResult, InferenceEngine, StopReason, Tool, Trajectory, Turn,
)
from asearcher.errors import UserError
from asearcher.tools import episode_tools

log = logging.getLogger(__name__)


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
        self.stop = [f"</{a}>" for a in self.actions]
        self.template = ChatFrame.from_tokenizer(engine.tokenizer)
        if self.config.chat_turns == "on" and self.template is None:
            raise UserError("agent.chat_turns=on needs a tokenizer with a chat template; this one has none")
        # The frame used between turns; None = plain-text context.
        self.chat = None if self.config.chat_turns == "off" else self.template

    # Format hooks (SearchR1Agent overrides them).
    def prompt_messages(self, question: str) -> list[dict[str, Any]]:
        """The chat that opens the episode."""
        return [{"role": "user", "content": prompts.BASE_PROMPT.format(question=question)}]

    def observation_frame(self, ok_result: bool) -> tuple[str, str]:
        """Head and tail around a tool's text (or around an invalid turn's error)."""
        return prompts.OBS_HEAD, prompts.OBS_TAIL if ok_result else prompts.INVALID_TAIL

    async def arun(self, question: str, *, qid: str = "", gold: list[str] | None = None) -> Trajectory | None:
        """Run one episode; None when the engine aborted it."""
        cfg, tok = self.config, self.engine.tokenizer
        assert tok is not None
        traj = Trajectory(qid=qid, question=question, gold=list(gold or []), agent=self.name)
        traj.stop_reason = StopReason.TURN_LIMIT
        tools = episode_tools(self.tools)
        ctx = TokenContext(tok, cfg.max_context_tokens)
        ctx.add_prompt_ids(self._prompt_ids(question))
        traj.segments.append(ctx.segment)
        rid = f"{self.name}-{qid or 'q'}-{uuid.uuid4().hex[:8]}"
        self.trace.start(question, self.name)
        limit, forced = cfg.turn_limit(), False
        for index in range(limit):
            dropped = bool(traj.turns) and traj.turns[-1].data.get("observation_cut") is None
            if index == limit - 1 or ctx.remaining <= cfg.force_answer_margin or dropped:
                forced = True
                if index == 0 and self.chat is not None:
                    # Nothing sampled yet: the instruction belongs in the question's own turn.
                    ctx = TokenContext(tok, cfg.max_context_tokens)
                    ctx.add_prompt_ids(self._prompt_ids(question, force=True))
                    traj.segments[0] = ctx.segment
            opening = self._open_reply(ctx, traj.turns, forced)
            max_new = min(cfg.max_new_tokens_per_turn, ctx.remaining - (0 if forced else cfg.force_answer_margin))
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
                await self._astep(turn, result, opening, tools, ctx)
            traj.turns.append(turn)
            self.trace.turn(turn)
            if turn.action == "answer":
                traj.answer, traj.stop_reason = turn.argument, StopReason.ANSWERED
                break
            if forced:
                traj.stop_reason = StopReason.TURN_LIMIT if index == limit - 1 else StopReason.TOKEN_BUDGET
                break
        self.trace.end(traj)
        return traj

    def _prompt_ids(self, question: str, force: bool = False) -> list[int]:
        """The episode's opening ids: the chat rendered with its generation prompt (plain text for a
        tokenizer without a chat template); `force` adds the forced-answer instruction to it."""
        messages = self.prompt_messages(question)
        if force:
            last = messages[-1]
            messages[-1] = {**last, "content": f"{last['content']}\n\n{prompts.FORCE_INSTRUCTION}"}
        tok = self.engine.tokenizer
        assert tok is not None
        if self.template is None:
            return tok.encode("\n\n".join(str(m["content"]) for m in messages) + "\n\n")
        return tok.chat_ids(messages, add_generation_prompt=True)

    def _open_reply(self, ctx: TokenContext, turns: list[Turn], forced: bool) -> str:
        """Append what precedes the next sampled reply (mask 0); returns the text of it that belongs to
        the reply itself (an injected action opening, parsed with the output), "" when none.

        Plain text: the forced-answer instruction ending in "<answer>". Chat turns: the context ends
        either in the open reply of the first turn, or in the user turn of the last observation, or
        (an observation that did not fit) right after the last reply; close what is open, add the
        instruction to the user turn when forced, then open the assistant turn."""
        opening = "<search>" if not turns and self.config.prefill_first_action and not forced else ""
        if self.chat is None:
            ctx.add_text(prompts.FORCE_ANSWER if forced else opening)
            return opening
        text = ""
        if turns:
            last = turns[-1]
            observed = last.data.get("observation_cut") is not None
            if not observed:
                text += self.chat.close_assistant(bool(last.data.get("eos")))
            if forced:
                text += ("\n\n" if observed else "") + prompts.FORCE_INSTRUCTION
            text += self.chat.before_assistant
        text += "<answer>" if forced else opening
        if text:
            ctx.add_text(text)
        return opening

    def _ended_turn(self, result: GenResult) -> bool:
        """The model ended its reply itself: neither the token limit nor one of our stop strings."""
        return result.finish_reason == "stop" and not any(result.text.endswith(s) for s in self.stop)

    def _without_eos(self, text: str) -> str:
        """`text` without a trailing end-of-turn token (engines that report it keep it in the text)."""
        tok = self.engine.tokenizer
        eos = tok.decode([tok.eos_token_id]) if tok is not None and tok.eos_token_id is not None else ""
        return text.removesuffix(eos) if eos else text

    async def _astep(self, turn: Turn, result: GenResult, opening: str, tools: dict[str, Tool],
                     ctx: TokenContext) -> None:
        """Parse one output (after the injected `opening`, if any), run its tool, append the
        observation (budget-bounded) to the context."""
        output = opening + result.text
        cfg = self.config
        parsed = parse_output(self._without_eos(output), self.actions, ended_turn=self._ended_turn(result))
        turn.action, turn.argument = parsed.action, parsed.argument
        turn.format_ok, turn.error = parsed.format_ok, parsed.error
        turn.data["thought"] = parsed.think
        if parsed.action == "answer":
            turn.data["observation_cut"] = False
            return
        if parsed.action == "none":
            body, ok = parsed.error, False
        else:
            assert parsed.argument is not None
            tool_result, turn.tool_time_s = await arun_tool(tools, parsed.action, parsed.argument)
            body, ok = tool_result.text, True
            turn.data.update(tool_result.data)
            turn.data["tool_ok"] = tool_result.ok
        head, tail = self.observation_frame(ok)
        if self.chat is not None:  # the observation is a user turn of its own
            head = self.chat.close_assistant(bool(turn.data.get("eos"))) + head.lstrip("\n")
            tail = tail.rstrip("\n")
        budget = min(cfg.max_observation_tokens, ctx.remaining - cfg.force_answer_margin)
        cut = ctx.add_bounded(head, body, tail, budget)
        turn.observation = body
        # None: not even the frame fit; the next turn is then the forced answer.
        turn.data["observation_cut"] = cut

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
