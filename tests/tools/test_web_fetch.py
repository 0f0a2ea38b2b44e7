"""Web page fetching against a local server on 127.0.0.1 (the only address tests ever contact)."""

from __future__ import annotations

import pytest

from asearcher.tools import AccessTool, FetchCache, PageReader, ToolFailure, UrlGuard, UrlRefused, WebFetcher, WebPages

BIG_SIZE = 3_000_000  # what the fixture server sends for /big (tests/tools/conftest.py)


def _fetcher(**kwargs) -> WebFetcher:
    kwargs.setdefault("timeout_s", 5.0)
    return WebFetcher(UrlGuard(allow_hosts=["127.0.0.1"]), **kwargs)


async def test_html_page_becomes_main_text(fixture_server) -> None:
    f = _fetcher()
    page = await f.afetch(fixture_server.base + "/article")
    await f.aclose()
    assert page.title == "Tide pools"
    assert "starfish, mussels and clams" in page.text
    assert "Marine biologists" in page.text
    assert "hidden script" not in page.text and "<p>" not in page.text


async def test_plain_text_kept_and_local_redirect_followed(fixture_server) -> None:
    f = _fetcher()
    plain = await f.afetch(fixture_server.base + "/plain")
    assert plain.text == "Just some plain text.\n\nSecond paragraph."
    moved = await f.afetch(fixture_server.base + "/redirect-local")
    assert moved.url == fixture_server.base + "/article" and "starfish" in moved.text
    await f.aclose()


async def test_slow_page_times_out(fixture_server) -> None:
    tool = AccessTool(WebPages(_fetcher(timeout_s=0.5)))
    r = await tool.acall(url=fixture_server.base + "/slow")
    assert not r.ok and "Timed out" in r.text


async def test_http_error_is_an_observation(fixture_server) -> None:
    tool = AccessTool(WebPages(_fetcher()))
    r = await tool.acall(url=fixture_server.base + "/missing")
    assert not r.ok and "HTTP 404" in r.text


async def test_huge_page_is_capped(fixture_server) -> None:
    f = _fetcher(max_bytes=100_000)
    page = await f.afetch(fixture_server.base + "/big")
    await f.aclose()
    assert 90_000 <= len(page.text) <= 100_000 < BIG_SIZE


@pytest.mark.parametrize(("path", "word"), [("/binary", "binary"), ("/paper.pdf", "PDF"), ("/untyped-pdf", "PDF")])
async def test_non_text_is_refused(fixture_server, path: str, word: str) -> None:
    tool = AccessTool(WebPages(_fetcher()))
    r = await tool.acall(url=fixture_server.base + path)
    assert not r.ok and word in r.text and "only HTML and plain-text" in r.text


@pytest.mark.parametrize("target", ["http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::ffff:10.1.2.3]/", "file:///etc/passwd"])
async def test_redirect_to_private_address_is_refused_before_connecting(fixture_server, target: str) -> None:
    f = _fetcher()
    with pytest.raises(UrlRefused):
        await f.afetch(f"{fixture_server.base}/redirect-to?{target}")
    await f.aclose()
    # One request (to the local server); the refused hop was never contacted.
    assert f.fetches == 1 and len(fixture_server.requests) == 1


async def test_malformed_urls_are_observations_not_crashes(fixture_server) -> None:
    # '[::1' fails the guard's parser; a NUL passes it but not httpx's (which is no httpx.HTTPError).
    for reader_base in ("", fixture_server.base + "/reader"):
        tool = AccessTool(WebPages(_fetcher(reader_base=reader_base)))
        for url in ("http://[::1", fixture_server.base + "/a\x00b"):
            r = await tool.acall(url=url)
            assert not r.ok and "malformed URL" in r.text, (reader_base, url, r.text)
        await tool.backends[0].aclose()
    assert fixture_server.requests == []
    tool = AccessTool(WebPages(_fetcher()))
    moved = await tool.acall(url=fixture_server.base + "/redirect-to?http://[::1")
    await tool.backends[0].aclose()
    assert not moved.ok and "Invalid URL in location header" in moved.text


async def test_private_url_refused_without_any_request(fixture_server) -> None:
    f = WebFetcher(UrlGuard())  # 127.0.0.1 not allowed this time
    with pytest.raises(UrlRefused):
        await f.afetch(fixture_server.base + "/article")
    assert f.fetches == 0 and fixture_server.requests == []


async def test_redirect_loop_is_bounded(fixture_server) -> None:
    f = _fetcher(max_redirects=3)
    with pytest.raises(ToolFailure, match="more than 3 redirects"):
        await f.afetch(fixture_server.base + "/loop")
    await f.aclose()
    assert fixture_server.count("/loop") == 4


async def test_cache_hit_avoids_second_fetch(fixture_server, tmp_path) -> None:
    url = fixture_server.base + "/article"
    f = _fetcher(cache=FetchCache(8, tmp_path / "cache"))
    first = await f.afetch(url)
    second = await f.afetch(url)
    await f.aclose()
    assert first == second and fixture_server.count("/article") == 1 and f.cache.hits == 1
    # The on-disk cache serves a new fetcher (a new run) without the network.
    g = _fetcher(cache=FetchCache(8, tmp_path / "cache"))
    assert await g.afetch(url) == first and g.fetches == 0
    assert fixture_server.count("/article") == 1


async def test_reader_service(fixture_server) -> None:
    f = _fetcher(reader_base=fixture_server.base + "/reader/")
    page = await f.afetch("https://example.org/a")  # only the local reader is contacted
    await f.aclose()
    assert page.title == "Read https://example.org/a" and "Markdown body." in page.text
    assert [p for _, p, _, _ in fixture_server.requests] == ["/reader/https://example.org/a"]


async def test_access_tool_chunks_web_pages(fixture_server) -> None:
    tool = AccessTool(WebPages(_fetcher()), PageReader(chunk_chars=200))
    first = await tool.acall(url=fixture_server.base + "/article")
    second = await tool.acall(url=fixture_server.base + "/article")
    assert first.ok and second.ok and second.data["chunk_index"] == 1
    assert fixture_server.count("/article") == 1  # the page is read once per episode


async def test_reader_still_refuses_bad_schemes_and_literal_private_hosts(fixture_server) -> None:
    f = _fetcher(reader_base=fixture_server.base + "/reader")
    for url in ("file:///etc/passwd", "http://169.254.169.254/"):
        with pytest.raises(UrlRefused):
            await f.afetch(url)
    await f.aclose()
    assert fixture_server.requests == []
