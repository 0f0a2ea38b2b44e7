"""Failures the world or the model caused: tools turn these into observations, never tracebacks.

Backends raise `ToolFailure` (timeouts, HTTP errors, refused URLs); the tools catch it and return
`ToolResult(ok=False, text=<reason>)`. Anything else that raises is a bug in our code.
"""

from __future__ import annotations


class ToolFailure(Exception):
    """A failure to report to the model; `str(exc)` is the explanation it will read."""


class UrlRefused(ToolFailure):
    """The URL guard refused a URL (bad scheme, private or local address)."""
