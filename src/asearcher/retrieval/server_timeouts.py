"""A header read timeout for uvicorn's HTTP protocol, so slow clients cannot hold connections forever.

uvicorn times out idle keep-alive connections (`timeout_keep_alive`) but not a connection that
sends its request headers a byte at a time (slowloris): such a connection is kept open as long as
bytes trickle in. `header_timeout_protocol` wraps uvicorn's protocol class (httptools or h11, as
"auto" picks) with a timer that runs from a connection's first byte (or its opening) until a
request's headers are complete, and closes the connection with a 408 when it fires. The body has
its own limit, in the body-limit middleware (server_body_limit.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

logger = logging.getLogger(__name__)

_TIMEOUT_REPLY = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@functools.cache  # one class per timeout: the multi-process factory below asks per connection
def header_timeout_protocol(timeout_s: float, base: type[asyncio.Protocol] = AutoHTTPProtocol) -> type[asyncio.Protocol]:
    """A subclass of `base` that closes connections whose request headers take over `timeout_s`."""

    class HeaderTimeoutProtocol(base):  # type: ignore[valid-type, misc]
        # Relies on two attributes both uvicorn protocols have: `cycle`, set when a request's
        # headers are complete (one per request), and `transport`.

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._header_timer: asyncio.TimerHandle | None = None
            self._seen_cycle: object | None = None
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            if self.cycle is not None and self.cycle is not self._seen_cycle:
                self._seen_cycle = self.cycle  # headers of a new request are complete
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = asyncio.get_running_loop().call_later(timeout_s, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.cycle is not None and self.cycle is not self._seen_cycle:
                return  # headers completed in the same tick
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being answered: not waiting on headers
            logger.info("closing a connection that sent no complete request headers within %g s", timeout_s)
            if not self.transport.is_closing():
                self.transport.write(_TIMEOUT_REPLY)
                self.transport.close()

    return HeaderTimeoutProtocol


class HeaderTimeoutHTTP:
    """A picklable stand-in for `header_timeout_protocol(timeout_s)`, given to uvicorn as its `http`.

    uvicorn pickles its config into each worker process of `asearcher serve --workers N`, and a
    class made inside a function cannot be pickled; uvicorn only calls its `http` with the
    protocol's keyword arguments, so this callable serves as well as the class.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def __call__(self, **kwargs: Any) -> asyncio.Protocol:
        return header_timeout_protocol(self.timeout_s)(**kwargs)
