"""Request bodies of the retrieval server and the 4xx messages for bad ones.

The bodies follow Search-R1's `retrieval_server.py` (`queries`, `topk`, `return_scores`) and
ASearcher's `/access` (`urls`). Models are strict and forbid unknown keys, so a typo such as
`top_k` is a 422 naming the field rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RetrieveRequest(BaseModel):
    """POST /retrieve body."""

    model_config = ConfigDict(extra="forbid", strict=True)

    queries: list[str] = Field(min_length=1, description="Search queries; each gets its own result list.")
    topk: int | None = Field(default=None, ge=1, description="Passages per query (server default when absent).")
    return_scores: bool = Field(default=False, description="Wrap each doc as {document, score}.")


class AccessRequest(BaseModel):
    """POST /access body."""

    model_config = ConfigDict(extra="forbid", strict=True)

    urls: list[str] = Field(min_length=1, description="Page URLs; unknown ones come back as null.")


def _field_path(loc: tuple[Any, ...]) -> str:
    """('body', 'queries', 2) -> 'queries[2]'."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """(status, message) for pydantic/FastAPI validation errors; the message names each field."""
    messages = []
    for err in errors:
        kind = err.get("type", "")
        path = _field_path(tuple(err.get("loc", ())))
        if kind == "json_invalid":
            ctx = err.get("ctx", {}).get("error", err.get("msg", ""))
            return 400, f"request body is not valid JSON: {ctx}"
        if kind == "missing" and path in ("", "body"):
            return 400, "request body is missing: send a JSON object"
        if kind == "extra_forbidden":
            messages.append(f"unknown field {path!r}")
        elif kind in ("model_attributes_type", "model_type", "dict_type") and path in ("", "body"):
            return 422, "request body must be a JSON object sent as Content-Type: application/json"
        elif kind == "missing":
            messages.append(f"{path}: required field is missing")
        else:
            shown = repr(err.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            messages.append(f"{path or 'body'}: {err.get('msg', 'invalid value')} (got {shown})")
    return 422, "; ".join(messages) or "invalid request"
