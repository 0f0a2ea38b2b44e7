"""HTML -> readable text for the access tool: trafilatura first, a plain tag-stripper as fallback.

trafilatura keeps the main content and drops menus and footers, but returns nothing for some
pages (very short ones, odd layouts); the fallback then keeps all visible text, with line breaks
at block elements so paragraphs survive for the chunker.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

log = logging.getLogger(__name__)

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}
_BLOCK = {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
          "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "dd", "dt", "nav", "main", "aside"}


class _TextParser(HTMLParser):
    """Collects visible text and the <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def _tidy(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks (at most one blank line)."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def fallback_text(html: str) -> tuple[str, str]:
    """(title, visible text) by stripping tags; never fails on malformed HTML."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.title_parts).split()), _tidy("".join(parser.parts))


def html_to_text(html: str, url: str | None = None) -> tuple[str, str]:
    """(title, main text) of an HTML document; falls back to all visible text."""
    import trafilatura  # imported here: it is slow to import and only web access needs it

    title, fallback = fallback_text(html)
    try:
        text = trafilatura.extract(html, url=url, include_comments=False, include_tables=True,
                                   favor_recall=True, output_format="txt")
    except Exception as e:  # noqa: BLE001 - a parser crash on one page must not end the episode
        log.warning("trafilatura failed on %s: %s", url, e)
        text = None
    if not text or len(text.strip()) < 0.2 * len(fallback) and len(fallback) < 2000:
        # Nothing extracted, or trafilatura dropped most of a short page (it treats short pages
        # as boilerplate): the plain visible text is more useful.
        return title, fallback
    return title, _tidy(text)
