"""Corpus records: passages (what search returns) and pages (what access returns)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable unit of text, about 100 words.

    Attributes:
        id: stable identifier, unique in its corpus (Search-R1 uses the row number as a string).
        title: title of the page the passage comes from ("" when unknown).
        text: the passage body, without the title.
        url: the page's URL ("" when the corpus has none); `/access` resolves it to a `Page`.
    """

    id: str
    title: str
    text: str
    url: str = ""

    @property
    def contents(self) -> str:
        """Search-R1 / FlashRAG `contents`: the quoted title on the first line, then the text."""
        return f'"{self.title}"\n{self.text}' if self.title else self.text

    def to_doc(self) -> dict[str, str]:
        """The document shape served by `/retrieve`: Search-R1 and ASearcher clients read it."""
        return {"id": self.id, "contents": self.contents, "title": self.title, "text": self.text, "url": self.url}


@dataclass(frozen=True, slots=True)
class Page:
    """A whole page, read by the `access` tool.

    Attributes:
        url: canonical URL (for Wikipedia: https://en.wikipedia.org/wiki/Title_with_underscores).
        title: page title.
        text: full plain text of the page.
    """

    url: str
    title: str
    text: str

    def to_doc(self) -> dict[str, str]:
        """The page shape served by `/access` (ASearcher's client reads `contents`)."""
        return {"url": self.url, "title": self.title, "contents": self.text}


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a passage and its retriever score (higher is better)."""

    passage: Passage
    score: float
