"""The server's limits: reply-size budget, slow clients (headers, body, idle keep-alive), the OpenAPI document."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from asearcher.api.documents import Passage
from asearcher.corpus import JsonlPageStore
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import ServerThread

TEXT = "The Mona Lisa is a portrait painting by Leonardo da Vinci. " * 8  # ~480 characters
N_PASSAGES = 40


@pytest.fixture(scope="module")
def retriever() -> BM25Retriever:
    r = BM25Retriever()
    r.index(Passage(str(i), f"Mona Lisa {i}", TEXT, f"https://x.org/{i}") for i in range(N_PASSAGES))
    return r


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> JsonlPageStore:
    path = tmp_path_factory.mktemp("pages") / "pages.jsonl"
    path.write_text("".join(json.dumps({"url": f"https://x.org/{i}", "title": str(i), "text": TEXT * 20}) + "\n"
                            for i in range(N_PASSAGES)))
    return JsonlPageStore(path)


LIMITS = ServerConfig(max_response_bytes=40_000, header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=0.5)


@pytest.fixture(scope="module")
def served(retriever: BM25Retriever, pages: JsonlPageStore):
    app = create_app(retriever, pages, LIMITS)
    with ServerThread(app, config=LIMITS) as url:
        yield url, app.state.service


def test_a_reply_over_the_budget_is_refused_before_searching(served) -> None:
    url, state = served
    before = state.batcher.stats.queries
    # ~600-byte docs: 10 queries x topk 10 is ~60 KB, above the 40 KB budget.
    r = httpx.post(f"{url}/retrieve", json={"queries": ["Mona Lisa"] * 10, "topk": 10})
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert "max_response_bytes=40,000" in detail and "10 queries x topk 10" in detail
    assert state.batcher.stats.queries == before  # refused on the estimate: nothing was searched
    ok = httpx.post(f"{url}/retrieve", json={"queries": ["Mona Lisa"] * 2, "topk": 10})
    assert ok.status_code == 200 and len(ok.content) <= LIMITS.max_response_bytes


def test_the_reply_itself_is_checked_when_the_estimate_is_low(served) -> None:
    url, state = served
    measured = state.doc_bytes
    state.doc_bytes = 1  # as if the warm-up hits had been tiny passages
    try:
        r = httpx.post(f"{url}/retrieve", json={"queries": ["Mona Lisa"] * 10, "topk": 10})
    finally:
        state.doc_bytes = measured
    assert r.status_code == 413 and "bytes, above this server's max_response_bytes" in r.json()["detail"]


def test_pages_over_the_budget_are_refused(served) -> None:
    url, _ = served
    one = httpx.post(f"{url}/access", json={"urls": ["https://x.org/1"]})
    assert one.status_code == 200 and len(one.json()["result"][0]["contents"]) > 9000
    many = httpx.post(f"{url}/access", json={"urls": [f"https://x.org/{i}" for i in range(10)]})
    assert many.status_code == 413 and "ask for fewer URLs" in many.json()["detail"]


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_headers_sent_a_byte_at_a_time_time_out(served) -> None:
    url, _ = served
    sock = _connect(url)
    start = time.monotonic()
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    try:
        for byte in request:  # slowloris: a byte every 50 ms keeps the connection "active"
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection while we were still sending: what we want
    reply = _read_until_closed(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - start < 2.5  # 0.5 s limit; sending all 130 bytes would take 6.5 s


def test_a_connection_that_sends_nothing_is_closed(served) -> None:
    url, _ = served
    sock = _connect(url)
    start = time.monotonic()
    reply = _read_until_closed(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - start < 2.0


def test_a_body_that_stalls_gets_408(served) -> None:
    url, _ = served
    sock = _connect(url)
    sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"queries\": [")
    start = time.monotonic()
    reply = _read_until_closed(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in reply
    assert time.monotonic() - start < 2.0


def test_an_idle_keep_alive_connection_is_closed_and_slow_clients_do_not_block_others(served) -> None:
    url, _ = served
    slow = [_connect(url) for _ in range(20)]  # held open, sending nothing
    for s in slow:
        s.sendall(b"GET /hea")
    try:
        start = time.monotonic()
        assert httpx.get(f"{url}/health").status_code == 200  # served while they wait
        assert time.monotonic() - start < 1.0
    finally:
        for s in slow:
            s.close()
    sock = _connect(url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    start = time.monotonic()
    reply = _read_until_closed(sock)  # the reply, then the close after keep_alive_s
    sock.close()
    assert reply.startswith(b"HTTP/1.1 200") and 0.3 < time.monotonic() - start < 2.5


def test_openapi_document_states_the_real_contract(served) -> None:
    url, _ = served
    doc = httpx.get(f"{url}/openapi.json").json()
    retrieve = doc["paths"]["/retrieve"]["post"]
    access = doc["paths"]["/access"]["post"]
    assert set(retrieve["responses"]) == {"200", "400", "408", "413", "422", "503"}
    assert set(access["responses"]) == {"200", "400", "408", "413", "422", "501"}
    error = doc["components"]["schemas"]["ErrorReply"]
    assert error["properties"]["detail"] == {"type": "string", "title": "Detail"}  # a string, as sent
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    body = doc["components"]["schemas"]["RetrieveRequest"]["properties"]
    integer = next(s for s in body["topk"]["anyOf"] if s["type"] == "integer")
    assert (integer["minimum"], integer["maximum"]) == (0, LIMITS.max_topk)
    assert body["queries"]["maxItems"] == LIMITS.max_queries


def test_unknown_keys_are_logged_a_bounded_number_of_times(served) -> None:
    url, state = served
    for i in range(100):
        assert httpx.post(f"{url}/retrieve", json={"queries": [], f"k{i}": 1}).status_code == 200
    assert len(state.unknown_keys) <= 65


def test_the_limits_are_validated() -> None:
    from asearcher.errors import UserError

    for key in ("max_response_bytes", "header_timeout_s", "body_timeout_s", "keep_alive_s"):
        with pytest.raises(UserError, match=key):
            ServerConfig(**{key: 0}).validate()


def test_default_budget_fits_search_r1_training_batches(tmp_path: Path) -> None:
    # Search-R1's rollout sends 512 prompts x 5 samples = 2,560 queries of topk 3 in one request;
    # at ~1.2 KB per served passage that is ~9 MB: within the defaults (4,096 queries, 16 MiB).
    config = ServerConfig()
    assert config.max_queries >= 2560
    assert 2560 * 3 * 1200 < config.max_response_bytes
