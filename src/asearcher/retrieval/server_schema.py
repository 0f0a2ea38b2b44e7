"""Request and reply bodies of the retrieval server, and the 4xx messages for bad requests.

The bodies follow Search-R1's `retrieval_server.py` (`queries`, `topk`, `return_scores`) and
ASearcher's `/access` (`urls`), and accept what their servers accept: an empty list (an empty
result), a missing, null or 0 `topk` (the server default), `topk` as a string of digits, and
unknown keys (ignored, and logged). What stays a 4xx naming the field: wrong types, a negative or
too large `topk`, too many queries. The limits come from the `ServerConfig`, so the models are
built per app (`request_models`) and the OpenAPI document states them exactly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from asearcher.retrieval.server_config import ServerConfig


def digits_pattern(n: int) -> str:
    """A regex matching exactly the decimal numbers 0..n written without leading zeros.

    >>> digits_pattern(100)
    '^(0|[1-9][0-9]?|100)$'
    """
    top, width = str(n), len(str(n))

    def span(lo: int, hi: int) -> str:
        return str(lo) if lo == hi else f"[{lo}-{hi}]"

    def any_digits(k: int) -> str:
        return "" if k == 0 else "[0-9]" if k == 1 else f"[0-9]{{{k}}}"

    parts = ["0"]
    if width == 2:
        parts.append("[1-9]")  # the shorter numbers: 1..9
    elif width > 2:
        parts.append("[1-9][0-9]?" if width == 3 else f"[1-9][0-9]{{0,{width - 2}}}")
    # Numbers as wide as n and below it: n's first i digits, then a smaller digit, then any digits.
    for i, digit in enumerate(map(int, top)):
        low = 1 if i == 0 else 0
        if digit > low:
            parts.append(top[:i] + span(low, digit - 1) + any_digits(width - i - 1))
    parts.append(top)
    return "^(" + "|".join(dict.fromkeys(parts)) + ")$"


def _topk_field(max_topk: int) -> Any:
    """`topk`: null, an integer 0..max_topk, or the same as a string of digits ("3")."""
    pattern = re.compile(digits_pattern(max_topk))

    def coerce(value: Any) -> Any:
        if isinstance(value, str):
            if not pattern.fullmatch(value):
                raise ValueError(f"a string topk must be a whole number from 0 to {max_topk}")
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 3.0 is an integer in JSON
        if isinstance(value, bool):
            raise ValueError("topk must be a whole number, not a boolean")
        return value

    schema = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": max_topk},
                        {"type": "string", "pattern": digits_pattern(max_topk)}, {"type": "null"}],
              "default": None, "title": "Topk",
              "description": f"Passages per query, at most {max_topk}; null or 0: the server default."}
    bounded = Annotated[int, Field(ge=0, le=max_topk)]
    return Annotated[bounded | None, BeforeValidator(coerce), WithJsonSchema(schema)]


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


class _Body(BaseModel):
    # Unknown keys are kept aside (model_extra) so the server can log them; the peers ignore them.
    model_config = ConfigDict(extra="allow")


def request_models(config: ServerConfig) -> tuple[type[BaseModel], type[BaseModel]]:
    """(RetrieveRequest, AccessRequest) with this server's limits in their fields and schema."""
    topk_type = _topk_field(config.max_topk)

    class RetrieveRequest(_Body):
        """POST /retrieve body (Search-R1's contract)."""

        queries: list[str] = Field(max_length=config.max_queries,
                                   description="Search queries; each gets its own result list ([] gives []).")
        topk: topk_type = None  # type: ignore[valid-type]
        return_scores: Annotated[bool, BeforeValidator(_strict_bool)] = Field(
            default=False, description="Wrap each doc as {document, score}.")

    class AccessRequest(_Body):
        """POST /access body (ASearcher's contract)."""

        urls: list[str] = Field(max_length=config.max_queries,
                                description="Page URLs; unknown ones come back as null ([] gives []).")

    return RetrieveRequest, AccessRequest


class Doc(BaseModel):
    """A passage as served: Search-R1's `contents` ("title"\\ntext) plus its parts."""

    id: str
    contents: str
    title: str
    text: str
    url: str


class ScoredDoc(BaseModel):
    """A passage with its retriever score (return_scores=true)."""

    document: Doc
    score: float


class RetrieveReply(BaseModel):
    """One result list per query, best first."""

    result: list[list[Doc] | list[ScoredDoc]]


class PageDoc(BaseModel):
    """A whole page as served by /access (ASearcher's clients read `contents`)."""

    url: str
    title: str
    contents: str


class AccessReply(BaseModel):
    """One entry per URL: the page, or null when the server has no page at that URL."""

    result: list[PageDoc | None]


class ErrorReply(BaseModel):
    """Every error reply: `detail` says what is wrong, naming the field where there is one."""

    detail: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorReply, "description": description}


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body is missing, is not valid JSON, or Content-Length is not a number."),
    408: _error("The body did not arrive within body_timeout_s."),
    413: _error("The request body is above max_body_bytes, or the reply would be above max_response_bytes."),
    422: _error("A field has a wrong type or value (the message names it), or the body is not a JSON object."),
}
RETRIEVE_RESPONSES = {200: {"model": RetrieveReply, "description": "Results, one list per query."}, **COMMON_ERRORS,
                      503: _error("The index is still loading, or failed to load.")}
ACCESS_RESPONSES = {200: {"model": AccessReply, "description": "Pages, one entry per URL."}, **COMMON_ERRORS,
                    501: _error("This server has no page store (start it with --pages).")}


_LIMIT_SETTINGS = {("topk", "less_than_equal"): "max_topk", ("queries", "too_long"): "max_queries",
                   ("urls", "too_long"): "max_queries"}


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
        if kind in ("model_attributes_type", "model_type", "dict_type") and path in ("", "body"):
            return 422, "request body must be a JSON object sent as Content-Type: application/json"
        if kind == "missing":
            messages.append(f"{path}: required field is missing")
        else:
            shown = repr(err.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            setting = _LIMIT_SETTINGS.get((path, kind))
            if setting:  # name the server setting behind the limit: the client cannot see it otherwise
                limit = err.get("ctx", {}).get("le", err.get("ctx", {}).get("max_length"))
                msg += f" (this server's {setting}={limit})"
            messages.append(f"{path or 'body'}: {msg} (got {shown})")
    return 422, "; ".join(messages) or "invalid request"
