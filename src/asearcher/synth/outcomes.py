"""What a synthesis run ended with, told plainly: seeds counted by the reason they were not accepted,
and, when nothing was accepted, why and what to do about it.

A record's `reason` is free text naming the step and the detail; `reason_kind` maps it to one of a
few kinds (the step that stopped the seed, and whether the model's reply was unusable or the
verification said no), which the summary counts.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

UNUSABLE = "the model's reply was not the JSON asked for"

# (pattern on the reason, kind), first match wins; the patterns follow the reasons synth/agent.py writes.
_KINDS = (
    (r"^page .* not in the page store", "seed page missing from the page store"),
    (r"^fact extraction from .* after \d+ tries", f"fact extraction: {UNUSABLE}"),
    (r"^base question: .* after \d+ tries", f"base question: {UNUSABLE}"),
    (r"^base question failed", f"base question verification: {UNUSABLE}"),
    (r"^base question invalid", "base question judged invalid"),
    (r"^base question alternative_answer", "base question has another correct answer"),
    (r"^too easy", "too easy: still solved without tools after the edits"),
    (r"^model server", "model server failed"),
)


def reason_kind(record: dict[str, Any]) -> str:
    """The kind of reason a seed was not accepted ("accepted" for an accepted one).

    >>> reason_kind({"status": "failed", "reason": "base question: no JSON object in the reply after 3 tries"})
    "base question: the model's reply was not the JSON asked for"
    """
    if record.get("status") == "accepted":
        return "accepted"
    reason = str(record.get("reason") or "")
    return next((kind for pattern, kind in _KINDS if re.search(pattern, reason)), reason.split(":", 1)[0] or "unknown")


def count_reasons(records: list[dict[str, Any]]) -> dict[str, int]:
    """Not-accepted seeds by reason kind, most frequent first."""
    return dict(Counter(reason_kind(r) for r in records if r.get("status") != "accepted").most_common())


def diagnose(summary: dict[str, Any], model_flags: str = "--proposer (and --verifier)") -> str | None:
    """None when something was accepted; else why nothing was, and what to do, in a few sentences."""
    if summary.get("accepted", 0) > 0:
        return None
    reasons: dict[str, int] = summary.get("reasons", {})
    seeds = summary.get("seeds", 0)
    if not seeds:
        return "no seed was tried (is --n 0, or does the link graph hold no seed page?)."
    lines = [f"no question was accepted from {seeds} seed(s). Reasons: "
             + "; ".join(f"{kind}: {n}" for kind, n in reasons.items()) + "."]
    unusable = sum(n for kind, n in reasons.items() if UNUSABLE in kind)
    if unusable * 2 >= seeds:
        lines.append(f"Most seeds failed because the model's replies were not the JSON the synthesis steps ask "
                     f"for: the model is too small for this task (the embedded 135M model almost never writes it). "
                     f"Use a larger instruct model behind {model_flags}, e.g. an OpenAI-compatible server URL "
                     "serving a 7B+ model, or a local model folder.")
    elif reasons.get("model server failed", 0) * 2 >= seeds:
        lines.append("Most seeds failed because the model server failed; check that it runs and answers "
                     "(see the log lines above), then rerun the same command to resume.")
    elif any(k.startswith("too easy") for k in reasons):
        lines.append("Questions stayed solvable without tools: allow more edits (max_edits=...), or raise "
                     "hard_accuracy, or use a stronger proposer.")
    else:
        lines.append(f"Try more seeds (--n), or a stronger model behind {model_flags}.")
    return " ".join(lines)
