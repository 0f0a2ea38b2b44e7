"""One HTTP check of a retrieval server on the embedded corpus, shared by the BM25, dense and hybrid tests."""

from __future__ import annotations

import json

import httpx

# Byte for byte the request of the README and of Search-R1's retriever client.
README_REQUEST = {"queries": ["Who painted the Mona Lisa?"], "topk": 3, "return_scores": True}
MONA_LISA_URL = "https://en.wikipedia.org/wiki/Mona_Lisa"


def check_mona_lisa_over_http(base_url: str) -> None:
    """The Mona Lisa passage comes first, in Search-R1's response shape, and ASearcher's reads work."""
    r = httpx.post(base_url + "/retrieve", content=json.dumps(README_REQUEST),
                   headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text
    data = r.json()
    assert list(data) == ["result"] and len(data["result"]) == 1 and len(data["result"][0]) == 3
    for hit in data["result"][0]:
        assert set(hit) == {"document", "score"} and isinstance(hit["score"], float)
        assert set(hit["document"]) >= {"id", "contents", "title", "url"}  # Search-R1 keys ("text" too)
        assert all(isinstance(hit["document"][k], str) for k in ("id", "contents", "title", "url"))
    titles = [h["document"]["title"] for h in data["result"][0]]
    top = data["result"][0][0]["document"]
    assert top["title"] == "Mona Lisa" and top["url"] == MONA_LISA_URL, titles

    # ASearcher's client reads the plain docs' "contents" and "url", then /access's "contents".
    r = httpx.post(base_url + "/retrieve", json={k: v for k, v in README_REQUEST.items() if k != "return_scores"},
                   timeout=60)
    docs = r.json()["result"][0]
    assert [d["contents"] for d in docs] == [h["document"]["contents"] for h in data["result"][0]]
    assert "Mona Lisa" in docs[0]["contents"] and docs[0]["url"] == MONA_LISA_URL
    page = httpx.post(base_url + "/access", json={"urls": [docs[0]["url"]]}, timeout=60).json()["result"][0]
    assert "Leonardo da Vinci" in page["contents"] and page["url"] == MONA_LISA_URL
