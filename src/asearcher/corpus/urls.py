"""URL normalisation, so that every spelling of a Wikipedia link finds the same stored page.

The canonical Wikipedia form is `https://<lang>.wikipedia.org/wiki/<Title>` with spaces as
underscores, the first letter upper-cased (MediaWiki does this to every title) and the title
percent-encoded the way MediaWiki encodes it (`wfUrlencode`: `;@$!*(),/~:` stay as they are).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

# Characters MediaWiki leaves unescaped in article paths.
_WIKI_SAFE = ";@$!*(),/~:"
_WIKI_HOST = re.compile(r"^(?:www\.)?([a-z][a-z0-9-]*)\.(?:m\.)?wikipedia\.org$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def wikipedia_url(title: str, lang: str = "en") -> str:
    """The canonical URL of the Wikipedia article `title`, e.g. 'Mona Lisa' -> .../wiki/Mona_Lisa."""
    return f"https://{lang}.wikipedia.org/wiki/{quote(_canonical_title(title).replace(' ', '_'), safe=_WIKI_SAFE)}"


def _canonical_title(title: str) -> str:
    """Underscores to spaces, whitespace collapsed, first letter upper-cased (as MediaWiki does)."""
    title = " ".join(title.replace("_", " ").split())
    if title:
        first = title[0].upper()
        # 'ß'.upper() is 'SS': MediaWiki keeps such letters; so do we.
        if len(first) == 1:
            title = first + title[1:]
    return title


def _wiki_title(path: str, query: str) -> str | None:
    """The article title named by a Wikipedia path/query, or None when it names no article."""
    if path in ("/w/index.php", "/wiki/index.php", "/index.php"):
        titles = parse_qs(query).get("title")  # parse_qs decodes %xx and '+'
        return titles[0] if titles else None
    for prefix in ("/wiki/index.php/", "/w/index.php/", "/index.php/", "/wiki/"):
        if path.startswith(prefix):
            return unquote(path[len(prefix) :])
    return None


def normalize_url(url: str) -> str:
    """Map a URL to its canonical form (see the module docstring for Wikipedia).

    Handles http/https, mobile hosts (en.m.wikipedia.org), `/w/index.php?title=T`,
    `/wiki/index.php/T`, `index.php/T`, spaces vs underscores, percent-encoding and first-letter
    case; `#fragment` is dropped. Other URLs only get a lower-case scheme and host, no default
    port, no fragment, and `/` for an empty path.

    Raises ValueError for a URL that cannot be parsed at all (e.g. 'http://[::1', an unclosed
    IPv6 bracket); lookups treat that as "no such page" (see `JsonlPageStore.get`).

    >>> normalize_url("http://en.m.wikipedia.org/w/index.php?title=mona_Lisa#History")
    'https://en.wikipedia.org/wiki/Mona_Lisa'
    """
    written = url
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    elif "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ValueError(f"malformed URL {written!r}: {e}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    m = _WIKI_HOST.match(host)
    if m and scheme in ("http", "https"):
        title = _wiki_title(parts.path, parts.query)
        if title is not None and _canonical_title(title):
            return wikipedia_url(title, lang=m.group(1))
    # .hostname drops an IPv6 literal's brackets; without them the port would be ambiguous.
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    try:
        port = parts.port
    except ValueError:  # a malformed port: keep what was written rather than guess
        port = None
        netloc = parts.netloc.lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
