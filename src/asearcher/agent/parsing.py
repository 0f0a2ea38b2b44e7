"""Parsing a model's output into one action: <think>, <search>, <access>, <answer> tags.

Rules (each one is tested in tests/agent/test_parsing.py):
- Tags are case-sensitive and not nested; for each kind the LAST complete `<tag>...</tag>` wins.
- One tool call per turn: complete tags of two *different* actions in one output make the turn
  invalid (no action runs) and the observation says so. Stop strings normally end a generation at the
  first closing tag, so this only happens with engines that ignore stop strings.
- An opening action tag with no closing tag (e.g. a generation cut by the token limit) is an
  unbalanced tag: the turn is invalid. Except when the model ended its reply itself (`ended_turn`:
  its end-of-turn token, not the token limit) right inside one open action tag: small instruct
  models often write `<search>query` and end the turn, and the intent is unambiguous; the end of the
  reply closes the tag, the action runs, and `format_ok` is False (format rewards still see it). An unclosed <think> before a complete action only clears
  `format_ok`; the action still runs (the model's intent is unambiguous).
- No action, an empty argument, or an action the agent does not offer: invalid turn.
Invalid turns never raise: `ParsedOutput.error` is the text shown to the model as its observation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

ACTIONS = ("search", "access", "answer")
TAGS = ("think",) + ACTIONS


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    """One output, parsed.

    Attributes:
        action: "search", "access", "answer" or "none" (invalid turn; see `error`).
        argument: the stripped text inside the action tag, None when action is "none".
        think: the text of the last <think> block ("" when there is none).
        format_ok: True when the output followed the format (balanced tags, one valid action).
        error: why the turn is invalid or malformed ("" when format_ok); shown to the model.
    """

    action: str
    argument: str | None
    think: str = ""
    format_ok: bool = True
    error: str = ""


def _blocks(text: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)


def _balanced(text: str, tag: str) -> bool:
    return text.count(f"<{tag}>") == text.count(f"</{tag}>")


def _usage(allowed: tuple[str, ...]) -> str:
    forms = " or ".join(f"<{a}> ... </{a}>" for a in allowed)
    return f"Write exactly one action per turn: {forms}."


def parse_output(text: str, allowed: tuple[str, ...] = ACTIONS, ended_turn: bool = False) -> ParsedOutput:
    """Parse `text` into one action among `allowed` (see the module docstring for the rules).

    `ended_turn`: the model ended the reply itself (pass the text without its end-of-turn token).
    """
    thinks = _blocks(text, "think")
    think = thinks[-1].strip() if thinks else ""
    unbalanced = [a for a in ACTIONS if not _balanced(text, a)]
    if unbalanced:
        tag = unbalanced[0]
        if ended_turn and len(unbalanced) == 1 and text.rfind(f"<{tag}>") > text.rfind(f"</{tag}>"):
            closed = parse_output(text + f"</{tag}>", allowed)
            if closed.action != "none":
                error = f"Invalid format: <{tag}> is not closed by </{tag}> (the reply ended inside it)."
                return replace(closed, format_ok=False, error=error)
        return ParsedOutput("none", None, think, False, f"Invalid format: <{tag}> is not closed by </{tag}>. {_usage(allowed)}")
    found = {a: _blocks(text, a) for a in ACTIONS}
    present = [a for a in ACTIONS if found[a]]
    if len(present) > 1:
        names = " and ".join(f"<{a}>" for a in present)
        return ParsedOutput("none", None, think, False, f"Invalid format: {names} in one turn. {_usage(allowed)}")
    if not present:
        return ParsedOutput("none", None, think, False, f"No action found. {_usage(allowed)}")
    action = present[0]
    if action not in allowed:
        return ParsedOutput("none", None, think, False, f"The action <{action}> is not available. {_usage(allowed)}")
    argument = found[action][-1].strip()
    if not argument:
        what = {"search": "query", "access": "URL", "answer": "answer"}[action]
        return ParsedOutput("none", None, think, False, f"Empty {what} in <{action}>. {_usage(allowed)}")
    think_ok = _balanced(text, "think")
    error = "" if think_ok else "Invalid format: <think> is not closed by </think>."
    return ParsedOutput(action, argument, think, think_ok, error)


def strip_hidden_thinking(text: str) -> str:
    """The visible part of a reasoning model's output: text after the last </think>, else the text
    without its <think> blocks. Reasoning models (QwQ, R1) often omit the opening <think> because the
    chat template already opened it, so everything before a lone </think> is thinking too."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    return re.sub(r"<think>.*?(</think>|$)", "", text, flags=re.DOTALL)


def hidden_thinking(text: str) -> str:
    """The thinking part of a reasoning model's output (the complement of `strip_hidden_thinking`)."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[0].replace("<think>", "").strip()
    return " ".join(m.strip() for m in re.findall(r"<think>(.*?)(?:</think>|$)", text, flags=re.DOTALL))
