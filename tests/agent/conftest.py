"""Tiny real tools for agent tests (a BM25 index over four passages and a page store of three pages),
and scripted replies that bump the engine version."""

from __future__ import annotations

import json

import pytest

from asearcher.api import Passage
from asearcher.corpus.page_store import JsonlPageStore
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.tools import AccessTool, LocalPages, PageReader, RetrieverSearch, SearchTool

PAGES = [
    ("https://en.wikipedia.org/wiki/Mona_Lisa", "Mona Lisa",
     "The Mona Lisa is a portrait painting by Leonardo da Vinci. " * 3
     + "\n\nIt has been on display at the Louvre in Paris since 1797. " * 3
     + "\n\nThe painting was stolen in 1911 by Vincenzo Peruggia. " * 3),
    ("https://en.wikipedia.org/wiki/Leonardo_da_Vinci", "Leonardo da Vinci",
     "Leonardo da Vinci was an Italian polymath born in Vinci in 1452."),
    ("https://en.wikipedia.org/wiki/Louvre", "Louvre", "The Louvre is the world's most visited museum, in Paris."),
]


@pytest.fixture()
def tools(tmp_path):
    """{"search", "access"}: E's real tools over a real BM25 index; pages cut in ~200-char chunks."""
    pages = tmp_path / "pages.jsonl"
    pages.write_text("".join(json.dumps({"url": u, "title": t, "text": x}) + "\n" for u, t, x in PAGES))
    retriever = BM25Retriever(workdir=tmp_path / "bm25")
    retriever.index(
        [Passage(id=str(i), title=t, text=x[:300], url=u) for i, (u, t, x) in enumerate(PAGES)]
        + [Passage(id="3", title="Vinci", text="Vinci is a town in Tuscany.", url="https://en.wikipedia.org/wiki/Vinci")]
    )
    return {
        "search": SearchTool(RetrieverSearch(retriever), topk=2),
        "access": AccessTool(LocalPages(JsonlPageStore(pages)), PageReader(chunk_chars=200, max_chunks=10)),
    }


def _versioned(engine, replies):
    """Replies that set engine.version = k before reply k is sampled (turn k is sampled by version k)."""

    def make(k, text):
        def reply(_request):
            engine.version = k
            return text

        return reply

    return [make(k, t) for k, t in enumerate(replies)]


@pytest.fixture()
def versioned():
    """`versioned(engine, replies)`: scripted replies, reply k sampled by policy version k."""
    return _versioned
