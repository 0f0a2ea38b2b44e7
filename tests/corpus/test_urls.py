"""normalize_url: every spelling of a Wikipedia link maps to the one canonical URL the page store keys on."""

import pytest

from asearcher.corpus.urls import normalize_url, wikipedia_url

CANON = "https://en.wikipedia.org/wiki/Mona_Lisa"


@pytest.mark.parametrize(
    "url",
    [
        CANON,
        "http://en.wikipedia.org/wiki/Mona_Lisa",
        "https://en.m.wikipedia.org/wiki/Mona_Lisa",
        "https://en.wikipedia.org/w/index.php?title=Mona_Lisa",
        "https://en.wikipedia.org/w/index.php?title=Mona+Lisa&action=edit",
        "https://en.wikipedia.org/wiki/index.php/Mona_Lisa",
        "https://en.wikipedia.org/index.php/Mona_Lisa",
        "https://en.wikipedia.org/wiki/Mona Lisa",
        "https://en.wikipedia.org/wiki/Mona%20Lisa",
        "https://en.wikipedia.org/wiki/mona_Lisa",
        "https://en.wikipedia.org/wiki/Mona_Lisa#History",
        "en.wikipedia.org/wiki/Mona_Lisa",
        "  //EN.Wikipedia.org/wiki/Mona__Lisa  ",
    ],
)
def test_wikipedia_variants_map_to_canonical(url):
    assert normalize_url(url) == CANON


def test_percent_encoding_is_mediawikis():
    canon = "https://en.wikipedia.org/wiki/Schr%C3%B6dinger%27s_cat"
    assert normalize_url("https://en.wikipedia.org/wiki/Schrödinger's cat") == canon
    assert normalize_url(canon) == canon
    assert wikipedia_url("Schrödinger's cat") == canon
    # MediaWiki keeps ':' and '/' raw; '?' and '&' must be escaped or they would end the path.
    assert wikipedia_url("2001: A Space Odyssey") == "https://en.wikipedia.org/wiki/2001:_A_Space_Odyssey"
    assert wikipedia_url("AC/DC") == "https://en.wikipedia.org/wiki/AC/DC"
    assert wikipedia_url("What? & Why") == "https://en.wikipedia.org/wiki/What%3F_%26_Why"


def test_only_the_first_letter_is_capitalised():
    # MediaWiki titles are case-sensitive after the first letter.
    assert normalize_url("https://en.wikipedia.org/wiki/mona_lisa") == "https://en.wikipedia.org/wiki/Mona_lisa"


def test_other_languages_keep_their_host():
    assert normalize_url("http://fr.m.wikipedia.org/wiki/joconde") == "https://fr.wikipedia.org/wiki/Joconde"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM:443/Path?q=A#frag", "https://example.com/Path?q=A"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:8080/a?b=1#c", "http://example.com:8080/a?b=1"),
        ("https://en.wikipedia.org/w/index.php?search=x", "https://en.wikipedia.org/w/index.php?search=x"),
    ],
)
def test_other_urls_get_only_trivial_normalisation(url, expected):
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["http://[::1", "[::1", "https://en.wikipedia.org[/wiki/X"])
def test_a_url_that_cannot_be_parsed_is_a_value_error_naming_it(url):
    with pytest.raises(ValueError, match=r"malformed URL '.*\[") as e:
        normalize_url(url)
    assert repr(url) in str(e.value)


def test_ipv6_literal_hosts_keep_their_brackets():
    assert normalize_url("HTTP://[::1]:8080/x#f") == "http://[::1]:8080/x"
    assert normalize_url("https://[2001:DB8::1]:443/") == "https://[2001:db8::1]/"
