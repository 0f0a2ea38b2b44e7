"""The retrieval server's HTTP contract (Search-R1 /retrieve, ASearcher /access, /health) and its 4xx.

Served by a real uvicorn on 127.0.0.1 over a real BM25 index of a small fixture corpus.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from default_corpus_http import check_mona_lisa_over_http

from asearcher.api.documents import Passage
from asearcher.corpus import JsonlPageStore
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import ServerThread

WIKI = "https://en.wikipedia.org/wiki/"
PAGES = [
    ("Mona Lisa", "The Mona Lisa is a portrait painting by Leonardo da Vinci kept in the Louvre in Paris."),
    ("Hamlet", "Hamlet is a tragedy written by William Shakespeare about a prince of Denmark."),
    ("Mount Everest", "Mount Everest is the highest mountain above sea level, in the Himalayas."),
    ("Jupiter", "Jupiter is the largest planet of the Solar System, a gas giant with a great red spot."),
    ("Amazon River", "The Amazon River in South America carries more water than any other river."),
]


def _url(title: str) -> str:
    return WIKI + title.replace(" ", "_")


@pytest.fixture(scope="module")
def retriever() -> BM25Retriever:
    r = BM25Retriever()
    r.index(Passage(str(i), t, text, _url(t)) for i, (t, text) in enumerate(PAGES))
    return r


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> JsonlPageStore:
    path = tmp_path_factory.mktemp("pages") / "pages.jsonl"
    path.write_text("".join(json.dumps({"url": _url(t), "title": t, "text": text + " More text."}) + "\n"
                            for t, text in PAGES))
    return JsonlPageStore(path)


@pytest.fixture(scope="module")
def base_url(retriever: BM25Retriever, pages: JsonlPageStore):
    config = ServerConfig(max_topk=10, max_queries=16, max_body_bytes=4096, max_wait_ms=0.5)
    server = ServerThread(create_app(retriever, pages, config))
    url = server.start()
    _wait_healthy(url)
    yield url
    server.stop()


def _wait_healthy(url: str, timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if httpx.get(f"{url}/health").status_code == 200:
            return
        threading.Event().wait(0.05)
    raise AssertionError("server never became healthy")


def _post(url: str, path: str, **kwargs) -> httpx.Response:
    return httpx.post(url + path, timeout=10, **kwargs)


def test_retrieve_returns_search_r1_docs(base_url: str) -> None:
    r = _post(base_url, "/retrieve", json={"queries": ["Louvre painting", "Shakespeare prince"], "topk": 2})
    assert r.status_code == 200
    result = r.json()["result"]
    assert len(result) == 2
    top = result[0][0]
    assert set(top) >= {"id", "contents", "title", "url"}
    assert top["title"] == "Mona Lisa"
    assert top["contents"] == '"Mona Lisa"\n' + PAGES[0][1]
    assert top["url"] == _url("Mona Lisa")
    assert top["id"] == "0"
    assert result[1][0]["title"] == "Hamlet"


def test_retrieve_with_scores_wraps_docs(base_url: str) -> None:
    r = _post(base_url, "/retrieve", json={"queries": ["largest planet"], "topk": 3, "return_scores": True})
    assert r.status_code == 200
    (hits,) = r.json()["result"]
    assert hits[0]["document"]["title"] == "Jupiter"
    assert isinstance(hits[0]["score"], float)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_retrieve_default_topk_is_three_and_blank_queries_get_nothing(base_url: str) -> None:
    r = _post(base_url, "/retrieve", json={"queries": ["the is a of", "   "]})
    assert r.status_code == 200
    broad, blank = r.json()["result"]
    assert len(broad) == 3
    assert blank == []


def test_access_resolves_url_variants_and_unknown_urls_are_null(base_url: str) -> None:
    urls = [_url("Mona Lisa"), "https://en.wikipedia.org/w/index.php?title=Hamlet",
            "https://en.wikipedia.org/wiki/index.php/Mount_Everest", "https://en.m.wikipedia.org/wiki/jupiter",
            _url("No Such Page"), "https://example.com/nothing"]
    r = _post(base_url, "/access", json={"urls": urls})
    assert r.status_code == 200
    result = r.json()["result"]
    assert [p["title"] if p else None for p in result] == ["Mona Lisa", "Hamlet", "Mount Everest", "Jupiter",
                                                             None, None]
    assert result[1] == {"url": _url("Hamlet"), "title": "Hamlet", "contents": PAGES[1][1] + " More text."}


def test_access_answers_null_for_urls_that_cannot_be_parsed(base_url: str) -> None:
    # Models write such URLs; like any unknown URL they are null, never a 500 that hides the good ones.
    r = _post(base_url, "/access", json={"urls": ["http://[::1", _url("Hamlet"), "https://en.wikipedia.org[/wiki/X"]})
    assert r.status_code == 200, r.text
    assert [p["title"] if p else None for p in r.json()["result"]] == [None, "Hamlet", None]


def test_health_and_openapi(base_url: str) -> None:
    h = httpx.get(f"{base_url}/health")
    assert h.status_code == 200
    assert h.json()["status"] == "ok" and h.json()["passages"] == len(PAGES)
    schema = httpx.get(f"{base_url}/openapi.json").json()
    assert {"/retrieve", "/access", "/health"} <= set(schema["paths"])
    assert "RetrieveRequest" in schema["components"]["schemas"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"queries": ["ok", 5]}, "queries[1]"),
        ({"queries": "just a string"}, "queries"),
        ({"queries": None}, "queries"),
        ({"query": "x"}, "queries: required field is missing"),
        ({"queries": ["x"], "topk": -1}, "topk"),
        ({"queries": ["x"], "topk": 11}, "less than or equal to 10"),
        ({"queries": ["x"], "topk": "11"}, "from 0 to 10"),
        ({"queries": ["x"], "topk": "three"}, "from 0 to 10"),
        ({"queries": ["x"], "topk": 2.5}, "topk"),
        ({"queries": ["x"], "topk": True}, "not a boolean"),
        ({"queries": ["x"], "return_scores": "yes"}, "return_scores: must be true or false"),
        ({"queries": ["q"] * 17}, "at most 16 items"),
        (["x"], "JSON object"),
    ],
)
def test_retrieve_rejects_truly_bad_input_naming_the_field(base_url: str, body, needle: str) -> None:
    r = _post(base_url, "/retrieve", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [({"urls": None}, "urls"), ({"urls": [None]}, "urls[0]"), ({"urls": ["u"] * 17}, "at most 16 items")],
)
def test_access_rejects_bad_input_naming_the_field(base_url: str, body, needle: str) -> None:
    r = _post(base_url, "/access", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_invalid_json_and_missing_body_are_400(base_url: str) -> None:
    r = _post(base_url, "/retrieve", content=b'{"queries": [', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["detail"]
    r = _post(base_url, "/retrieve")
    assert r.status_code == 400
    assert "body is missing" in r.json()["detail"]


def test_oversized_body_is_413_before_parsing(base_url: str) -> None:
    big = json.dumps({"queries": ["word " * 1000]}).encode()
    r = _post(base_url, "/retrieve", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "max_body_bytes=4096" in r.json()["detail"]

    def chunks():  # no Content-Length: the server must count what arrives
        yield b'{"queries": ["'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"]}'

    r = _post(base_url, "/retrieve", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_route_and_method(base_url: str) -> None:
    assert httpx.get(f"{base_url}/retrieve").status_code == 405
    assert _post(base_url, "/search", json={"queries": ["x"]}).status_code == 404


def test_health_is_503_while_loading_then_200(retriever: BM25Retriever) -> None:
    release = threading.Event()

    def slow_load() -> BM25Retriever:
        assert release.wait(20), "test never released the loader"
        return retriever

    with ServerThread(create_app(slow_load, None, ServerConfig())) as url:
        loading = httpx.get(f"{url}/health")
        assert loading.status_code == 503 and loading.json()["status"] == "loading"
        early = _post(url, "/retrieve", json={"queries": ["Louvre"]})
        assert early.status_code == 503 and "loading" in early.json()["detail"]
        release.set()
        _wait_healthy(url)
        assert _post(url, "/retrieve", json={"queries": ["Louvre"]}).json()["result"][0][0]["title"] == "Mona Lisa"
        no_pages = _post(url, "/access", json={"urls": [_url("Hamlet")]})
        assert no_pages.status_code == 501 and "--pages" in no_pages.json()["detail"]


def test_a_failed_load_is_reported_by_health(tmp_path: Path) -> None:
    with ServerThread(create_app(tmp_path / "missing-index", None, ServerConfig())) as url:
        for _ in range(200):
            h = httpx.get(f"{url}/health")
            if h.json()["status"] != "loading":
                break
            threading.Event().wait(0.05)
        assert h.status_code == 503 and h.json()["status"] == "failed"
        assert "missing-index" in h.json()["detail"]
        assert _post(url, "/retrieve", json={"queries": ["x"]}).status_code == 503


@pytest.mark.parametrize("kind", ["hybrid", "dense"])
def test_dense_embedder_is_warm_before_health_is_200(tiny_dense_dir: Path, kind: str) -> None:
    from asearcher.retrieval import DenseRetriever

    # The tiny hybrid folder is also a complete dense index; a loader function makes the server load it.
    index = tiny_dense_dir if kind == "hybrid" else (lambda: DenseRetriever.load(tiny_dense_dir))
    app = create_app(index, None, ServerConfig())
    with ServerThread(app) as url:
        _wait_healthy(url, timeout_s=120)
        retriever = app.state.service.retriever
        assert retriever.kind == kind
        dense = retriever.dense if kind == "hybrid" else retriever
        assert dense._embedder is not None  # loaded during start-up, not by the first real query
        r = _post(url, "/retrieve", json={"queries": ["Who painted the Mona Lisa?"], "topk": 3, "return_scores": True})
        assert r.json()["result"][0][0]["document"]["id"] == "p0"
        assert app.state.service.batcher.stats.as_dict()["queries"] == 1  # the warm-up search is not counted


@pytest.fixture(scope="module")
def default_corpus_url(bm25_index_dir: Path, wiki_corpus_dir):
    """The server as `asearcher serve` runs it by default: the embedded corpus's BM25 index and pages."""
    store = JsonlPageStore(Path(wiki_corpus_dir) / "pages.jsonl")
    with ServerThread(create_app(bm25_index_dir, store, ServerConfig())) as url:
        _wait_healthy(url, timeout_s=60)
        yield url


def test_default_corpus_answers_the_readme_request_exactly(default_corpus_url: str) -> None:
    check_mona_lisa_over_http(default_corpus_url)
