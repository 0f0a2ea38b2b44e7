"""Serper web search against a local fake Serper server.

A fake is used because the real Serper API is a paid web service that tests cannot (and must not)
reach; the fake speaks the same protocol (POST /search, X-API-KEY, `organic` results).
"""

from __future__ import annotations

import json
import logging

import pytest

from asearcher.errors import UserError
from asearcher.tools import SearchTool, SerperSearch, ToolsConfig, aclose_tools, episode_tools, make_tools

ORGANIC = [
    {"title": "Tide pool - Wikipedia", "link": "https://en.wikipedia.org/wiki/Tide_pool", "snippet": "Rocky pools.",
     "position": 1},
    {"title": "Tide pools guide", "link": "https://example.org/tide", "snippet": "Visit at low tide.", "position": 2},
    {"title": "No link", "snippet": "dropped"},
]


async def test_serper_maps_organic_results(fixture_server, caplog) -> None:
    fixture_server.serper_results = ORGANIC
    backend = SerperSearch("test-key-123", fixture_server.base)
    with caplog.at_level(logging.DEBUG):
        hits = await backend.asearch("tide pools", 5)
    await backend.aclose()
    assert [h.passage.url for h in hits] == ["https://en.wikipedia.org/wiki/Tide_pool", "https://example.org/tide"]
    assert hits[0].passage.title == "Tide pool - Wikipedia" and hits[0].passage.text == "Rocky pools."
    assert hits[0].score > hits[1].score
    method, path, headers, body = fixture_server.requests[0]
    assert (method, path) == ("POST", "/search")
    assert json.loads(body) == {"q": "tide pools", "num": 5}
    assert headers["X-API-KEY"] == "test-key-123"
    assert "test-key-123" not in repr(backend) and "test-key-123" not in caplog.text


async def test_serper_bad_key_is_an_observation(fixture_server) -> None:
    tool = SearchTool(SerperSearch("wrong-key", fixture_server.base))
    r = await tool.acall(query="tide pools")
    await aclose_tools({"search": tool})
    assert not r.ok and "HTTP 403" in r.text and "wrong-key" not in r.text
    assert fixture_server.count("/search") == 1  # a bad key is not retried


async def test_serper_unreachable_is_an_observation() -> None:
    # Port 9 on 127.0.0.1 (discard) has no listener here: connection refused, retried, then reported.
    tool = SearchTool(SerperSearch("k", "http://127.0.0.1:9", retries=1))
    r = await tool.acall(query="anything")
    assert not r.ok and "unavailable" in r.text


def test_missing_api_key_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("ASEARCHER_TEST_SERPER_KEY", raising=False)
    with pytest.raises(UserError, match="ASEARCHER_TEST_SERPER_KEY"):
        make_tools("web", ToolsConfig(serper_key_env="ASEARCHER_TEST_SERPER_KEY"))


async def test_web_tools_end_to_end(fixture_server, monkeypatch) -> None:
    """make_tools("web"): search on the fake Serper, then access a result on the local server."""
    fixture_server.serper_results = [{"title": "Tide pools", "link": fixture_server.base + "/article",
                                      "snippet": "About tide pools.", "position": 1}]
    monkeypatch.setenv("ASEARCHER_TEST_SERPER_KEY", "test-key-123")
    config = ToolsConfig(serper_key_env="ASEARCHER_TEST_SERPER_KEY", serper_base_url=fixture_server.base,
                         allow_hosts=["127.0.0.1"], chunk_chars=10_000)
    tools = make_tools("web", config)
    ep = episode_tools(tools)
    found = await ep["search"].acall(query="tide pools")
    assert found.ok and f"URL: {fixture_server.base}/article" in found.text
    assert found.data["source"] == "web"  # asearcher-style prompts show web hits as "title snippet"
    page = await ep["access"].acall(url=found.data["hits"][0]["url"])
    assert page.ok and "starfish" in page.text and page.data["num_chunks"] == 1
    refused = await ep["access"].acall(url="http://169.254.169.254/latest/meta-data/")
    assert not refused.ok and "not allowed" in refused.text
    await aclose_tools(tools)
