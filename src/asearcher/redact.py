"""Redacting credentials from everything we write or print: one function, used everywhere.

A user may put credentials in a server URL (`http://user:secret@host/v1`, `...?api_key=...`) or a
header (`Authorization: Bearer ...`). They must never reach a run file, a summary, a report, a log
line or the terminal. `redact` replaces them by `***` in a string, or in every string of a JSON-like
value (dict keys that name a credential have their whole value replaced).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

MASK = "***"

# Query-string / form / header names whose value is a credential.
_SECRET_NAMES = (
    "api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|token|secret|"
    "client[_-]?secret|password|passwd|pwd|key|sig|signature|x-api-key|authorization|auth|session|credentials?"
)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@?#'\"<>]+)@")
_QUERY = re.compile(rf"(?P<name>[?&;](?:{_SECRET_NAMES}))=(?P<value>[^&#\s'\"<>]+)", re.IGNORECASE)
_HEADER = re.compile(
    rf"(?P<name>\b(?:authorization|proxy-authorization|x-api-key|api-key)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>(?:(?:bearer|basic|token)\s+)?[^\s'\",}]+)", re.IGNORECASE)
_BEARER = re.compile(r"(?P<name>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")
# Dict keys whose value is a credential. Narrower than the query names: "token" alone or "key" alone
# name ordinary fields in our records (a tokenizer's eos_token, a result's key).
_SECRET_KEY = re.compile(
    r"^(?:.*[_-])?(?:api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|secret|client[_-]?secret|"
    r"password|passwd|authorization|proxy-authorization|credentials?)$", re.IGNORECASE)


def redact_text(text: str) -> str:
    """`text` with URL credentials, secret query parameters, auth headers and API keys masked.

    >>> redact_text("judge http://bob:s3cret@host:8000/v1?api_key=abc&x=1")
    'judge http://***@host:8000/v1?api_key=***&x=1'
    """
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['name']}={MASK}", text)
    text = _HEADER.sub(lambda m: f"{m['name']}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m['name']}{MASK}", text)
    return _KEY_LIKE.sub(MASK, text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like `value` with every string redacted (`redact_text`), and the values of
    dict keys naming a credential (api_key, token, password, Authorization, ...) replaced by `***`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _SECRET_KEY.match(k) and v not in (None, "") else redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value) if isinstance(value, tuple) else [redact(v) for v in value]
    return value


class RedactingStream:
    """A text stream wrapper that redacts what is written (each write holds whole lines or words)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(redact_text(text))

    def flush(self) -> None:
        self.stream.flush()


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message (arguments merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_redaction() -> None:
    """Redact every log line this process prints: the filter goes on the root logger's handlers
    (records of any logger pass through them), and on the root logger itself for handlers added later."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


@contextmanager
def redacted_output() -> Iterator[None]:
    """For a command's whole run: log lines redacted, and a UserError's message (which the CLI
    prints) redacted too, since it may quote a URL the user gave."""
    from asearcher.errors import UserError

    install_log_redaction()
    try:
        yield
    except UserError as e:
        clean = redact_text(str(e))
        if clean == str(e):
            raise
        raise UserError(clean) from None
