"""Corpora: streaming readers, the embedded Wikipedia-lead corpus, the page store, and a QA set from it."""

from asearcher.corpus.build import CorpusPaths, build_corpus, build_default_corpus, ensure_default_corpus
from asearcher.corpus.page_store import JsonlPageStore
from asearcher.corpus.qa import make_corpus_qa
from asearcher.corpus.readers import ReadStats, iter_pages, iter_passages
from asearcher.corpus.urls import normalize_url, wikipedia_url

__all__ = [
    "CorpusPaths",
    "JsonlPageStore",
    "ReadStats",
    "build_corpus",
    "build_default_corpus",
    "ensure_default_corpus",
    "iter_pages",
    "iter_passages",
    "make_corpus_qa",
    "normalize_url",
    "wikipedia_url",
]
