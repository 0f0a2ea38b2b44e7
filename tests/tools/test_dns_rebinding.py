"""DNS rebinding: the URL guard resolves a host once and the fetch connects to the vetted address.

A resolver injected into the guard answers like a rebinding DNS server: an allowed address first,
an internal one afterwards. The allowed address is the fixture server on 127.0.0.1 (allowed by the
test configuration); the "internal" service listens on 127.0.0.2 (loopback, not allowed) on the
same port. No request may ever reach it, whatever the resolver answers later.
"""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from asearcher.tools import ToolFailure, UrlGuard, UrlRefused, WebFetcher


class FlippingResolver:
    """Answers host -> [answers for the 1st lookup, the 2nd, ...] (the last one repeats); records lookups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        n = self.lookups.count(host)
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        seq = self.answers[host]
        return seq[min(n, len(seq) - 1)]


@pytest.fixture
def internal(fixture_server):
    """An 'internal' HTTP service on 127.0.0.2, on the fixture server's port; counts its requests."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"INTERNAL SECRET")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", fixture_server.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hits
    server.shutdown()
    server.server_close()


def _fetcher(resolver: FlippingResolver) -> WebFetcher:
    return WebFetcher(UrlGuard(allow_hosts=["127.0.0.1"], resolver=resolver), timeout_s=5.0)


async def test_a_flipping_answer_cannot_redirect_the_connection(fixture_server, internal) -> None:
    resolver = FlippingResolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    f = _fetcher(resolver)
    page = await f.afetch(f"http://rebind.test:{fixture_server.port}/article")
    # One lookup per fetch, made by the guard; the HTTP client never resolves the name (before,
    # it did, and a second answer of 127.0.0.2 would have been used for the connection).
    assert resolver.lookups == ["rebind.test"]
    assert "starfish" in page.text
    # The Host header keeps the name: virtual hosts and TLS certificates still match.
    assert [headers.get("Host") for _m, _p, headers, _b in fixture_server.requests] == \
        [f"rebind.test:{fixture_server.port}"]
    # The next fetch resolves again, gets the internal answer, and is refused before connecting.
    with pytest.raises(UrlRefused, match="loopback address"):
        await f.afetch(f"http://rebind.test:{fixture_server.port}/plain")
    await f.aclose()
    assert internal == []  # the internal service never saw a request


async def test_an_internal_answer_is_refused_before_connecting(fixture_server, internal) -> None:
    resolver = FlippingResolver({"evil.test": [["127.0.0.2"]], "mixed.test": [["127.0.0.1", "10.0.0.7"]]})
    f = _fetcher(resolver)
    with pytest.raises(UrlRefused, match="loopback address"):
        await f.afetch(f"http://evil.test:{fixture_server.port}/article")
    with pytest.raises(UrlRefused, match="private address"):  # every answer must pass, not just one
        await f.afetch(f"http://mixed.test:{fixture_server.port}/article")
    with pytest.raises(UrlRefused, match="does not resolve"):
        await f.afetch(f"http://unknown.test:{fixture_server.port}/article")
    await f.aclose()
    assert internal == [] and fixture_server.requests == []


async def test_every_redirect_hop_is_resolved_once_and_vetted(fixture_server, internal) -> None:
    port = fixture_server.port
    resolver = FlippingResolver({"start.test": [["127.0.0.1"]],
                                 "hop.test": [["127.0.0.1"], ["127.0.0.2"]],
                                 "inside.test": [["127.0.0.2"]]})
    f = _fetcher(resolver)
    page = await f.afetch(f"http://start.test:{port}/redirect-to?http://hop.test:{port}/article")
    assert "starfish" in page.text and page.url == f"http://hop.test:{port}/article"
    with pytest.raises(UrlRefused, match="loopback"):
        await f.afetch(f"http://start.test:{port}/redirect-to?http://inside.test:{port}/article")
    # hop.test now answers 127.0.0.2: the second redirect to it is refused, not followed there.
    with pytest.raises(UrlRefused, match="loopback"):
        await f.afetch(f"http://start.test:{port}/redirect-to?http://hop.test:{port}/plain")
    await f.aclose()
    assert internal == []
    assert resolver.lookups.count("hop.test") == 2 and resolver.lookups.count("inside.test") == 1


async def test_tls_keeps_the_host_name_as_sni_while_connecting_to_the_vetted_address() -> None:
    # A TLS listener on 127.0.0.1 that records the SNI of each ClientHello (it has no certificate,
    # so the handshake then fails: the fetch becomes a ToolFailure, as for any bad certificate).
    seen: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.sni_callback = lambda _sock, name, _ctx: seen.append(name)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def accept_one() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    f = _fetcher(FlippingResolver({"secure.test": [["127.0.0.1"], ["127.0.0.2"]]}))
    try:
        with pytest.raises(ToolFailure):
            await f.afetch(f"https://secure.test:{port}/")
    finally:
        await f.aclose()
        thread.join(5)
        listener.close()
    assert seen == ["secure.test"]
