"""Strict-JSON calls to a model: robust parsing, bounded retries, and a typed failure instead of a crash.

Models wrap JSON in code fences, prefix it with reasoning (`<think>...</think>`), or add a sentence
after it. `extract_json` finds the last well-formed JSON object in the reply; `acall_json` asks
again (a fresh sample) when the reply has none or fails the step's own check, at most
`retries` more times, then returns a failure that the caller records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asearcher.api.engine import GenRequest, InferenceEngine

logger = logging.getLogger(__name__)

# A check returns an error message (why the object is unusable) or None when it is fine.
Check = Callable[[dict[str, Any]], str | None]


def _objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object embedded in `text`, in order."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = text.find("{", end)
    return found


def extract_json(text: str) -> dict[str, Any] | None:
    """The last JSON object in a model reply, ignoring any reasoning before `</think>`.

    >>> extract_json('Sure.\\n```json\\n{"answer": "Paris"}\\n```')
    {'answer': 'Paris'}
    >>> extract_json("no json here") is None
    True
    """
    if "</think>" in text:  # reasoning models may draft JSON while thinking; the final one counts
        text = text.rsplit("</think>", 1)[1]
    objs = _objects(text)
    return objs[-1] if objs else None


@dataclass(slots=True)
class JsonReply:
    """Outcome of one JSON call.

    Attributes:
        data: the accepted object, None when every try failed.
        raws: the raw reply of every try (kept in the edit history for inspection).
        error: why the last try was refused ("" on success).
    """

    data: dict[str, Any] | None
    raws: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.data is not None


def require_str(*keys: str) -> Check:
    """A check that each key holds a non-empty string."""

    def check(obj: dict[str, Any]) -> str | None:
        for k in keys:
            if not isinstance(obj.get(k), str) or not obj[k].strip():
                return f"field {k!r} must be a non-empty string"
        return None

    return check


def require_bool(key: str) -> Check:
    """A check that `key` holds a boolean (also "yes"/"no"/"true"/"false", normalised in place)."""

    def check(obj: dict[str, Any]) -> str | None:
        v = obj.get(key)
        if isinstance(v, str) and v.strip().lower() in ("yes", "no", "true", "false"):
            obj[key] = v.strip().lower() in ("yes", "true")
        if not isinstance(obj.get(key), bool):
            return f"field {key!r} must be true or false"
        return None

    return check


async def acall_json(
    engine: InferenceEngine,
    messages: list[dict[str, str]],
    *,
    check: Check,
    retries: int,
    max_new_tokens: int,
    temperature: float,
    seed: int | None = None,
) -> JsonReply:
    """Ask `engine` until a reply holds a JSON object that passes `check` (1 + `retries` tries).

    Engine errors propagate (they are failures of the world the caller decides about); a
    malformed reply is the model's mistake and only costs a try.
    """
    reply = JsonReply(data=None)
    for attempt in range(retries + 1):
        req = GenRequest(
            messages=messages,
            max_new_tokens=max_new_tokens,
            # A retry at T=0 would repeat the same reply; sample instead.
            temperature=temperature if attempt == 0 else max(temperature, 0.7),
            seed=None if seed is None else seed + attempt,
        )
        result = await engine.agenerate(req)
        reply.raws.append(result.text)
        obj = extract_json(result.text)
        if obj is None:
            reply.error = "no JSON object in the reply"
            continue
        problem = check(obj)
        if problem is None:
            reply.data, reply.error = obj, ""
            return reply
        reply.error = problem
    logger.debug("JSON call failed after %d tries: %s", retries + 1, reply.error)
    return reply
