"""An external summary model for page reading: the ASearcher paper's test-time setting, where a
separate LLM reads each page part and writes the notes the agent keeps, instead of the policy.

Off by default: the policy reads pages itself (ASearcher's training setting; reading.py). Given a
summary engine (`--summary-model` of `asearcher eval` / `asearcher ask`), the base agent's reading
turns and the reasoning agent's page-reading calls send the question and the part to it with the
`summary` prompt (agent.summary_prompt). Its notes enter the policy's context as context (loss mask
0, never trained: the policy did not sample them), framed where the policy's own notes would be.
Search results are still read by the policy.

    summarizer = PageSummarizer(engine, AgentConfig())
    notes = await summarizer.anotes(question, part_text, url=..., title=..., part=1, parts=3, rid="q")
"""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.agent.config import AgentConfig
from asearcher.agent.context import agenerate_chat, sampling_kwargs
from asearcher.agent.parsing import strip_hidden_thinking
from asearcher.agent.prompts import select_prompt
from asearcher.api import InferenceEngine
from asearcher.errors import UserError

# Agent kinds that read page parts with notes, and so can hand them to a summary model.
SUMMARY_AGENTS = ("base", "reasoning")


@dataclass(slots=True)
class Notes:
    """A summary model's notes on one page part.

    Attributes:
        text: the notes (a reasoning model's hidden thinking removed, whitespace trimmed).
        tokens: tokens the summary model wrote (0 when its engine reports no ids).
        seconds: wall time of the call.
    """

    text: str
    tokens: int
    seconds: float


class PageSummarizer:
    """Writes notes on page parts with its own engine and prompt (agent.summary_prompt)."""

    def __init__(self, engine: InferenceEngine, config: AgentConfig) -> None:
        self.engine = engine
        self.config = config
        self.prompt = select_prompt("summary", config.summary_prompt or "summary", config.summary_prompt_file)

    async def anotes(self, question: str, content: str, *, url: str, title: str, part: object, parts: object,
                     rid: str) -> Notes | None:
        """The notes on one part; None when the engine aborted the call (the episode is rejected)."""
        p, cfg = self.prompt, self.config
        values = {"question": question, "content": content, "url": url, "title": title or "(untitled)",
                  "part": part, "parts": parts}
        system = p.render("system", **values)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": p.render("user", **values)}]
        # Its own rid: a routing engine must not pin the summary calls to the policy's server.
        result, _, seconds = await agenerate_chat(
            self.engine, messages, lambda _prompt: cfg.summary_max_new_tokens, stop=[], rid=f"summary-{rid}",
            **sampling_kwargs(cfg))
        if result.finish_reason == "abort":
            return None
        return Notes(strip_hidden_thinking(result.text).strip(), len(result.output_ids), seconds)


def summary_record(spec: str | None, config: AgentConfig) -> dict[str, str | None]:
    """What a run folder records of its summary model: the spec, and its prompt's name and text hash
    (all None without one), so a rerun with another reader or prompt is not mixed in."""
    if not spec:
        return {"summary_model": None, "summary_prompt": None, "summary_prompt_sha256": None}
    p = select_prompt("summary", config.summary_prompt or "summary", config.summary_prompt_file)
    return {"summary_model": spec, "summary_prompt": p.name, "summary_prompt_sha256": p.sha256}


def check_summary_use(kind: str, config: AgentConfig) -> None:
    """UserError when an agent of `kind` with `config` cannot use a summary model (it writes no notes
    on page parts); cheap, so callers check before building engines."""
    if kind not in SUMMARY_AGENTS:
        raise UserError(f"--summary-model: the {kind!r} agent reads no pages with notes; it works with the "
                        f"{' and '.join(SUMMARY_AGENTS)} agents")
    if kind == "base" and not config.read_pages:
        raise UserError("--summary-model: the base agent writes notes on page parts only with agent.read_pages=true")


def make_summarizer(kind: str, engine: InferenceEngine | None, config: AgentConfig) -> PageSummarizer | None:
    """The summarizer for an agent of `kind`, None without a summary engine (`check_summary_use`'s
    UserError when the agent cannot use one)."""
    if engine is None:
        return None
    check_summary_use(kind, config)
    return PageSummarizer(engine, config)
