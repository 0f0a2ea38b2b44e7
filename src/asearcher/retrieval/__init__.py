"""Retrieval library: BM25 / dense / hybrid retrievers over a shared passage store, and index folders.

    retriever = build_index("passages.jsonl", "idx/", "bm25")   # or load_index("idx/")
    retriever.search("Who painted the Mona Lisa?", topk=5)
"""

from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.config import BM25Config, DenseConfig, HybridConfig, IndexConfig
from asearcher.retrieval.dense import DenseRetriever
from asearcher.retrieval.hybrid import HybridRetriever, rrf_fuse
from asearcher.retrieval.index_io import build_index, ensure_default_index, load_index, make_retriever, read_meta
from asearcher.retrieval.passage_store import PassageStore, PassageStoreWriter, write_store

__all__ = [
    "BM25Config",
    "BM25Retriever",
    "DenseConfig",
    "DenseRetriever",
    "HybridConfig",
    "HybridRetriever",
    "IndexConfig",
    "PassageStore",
    "PassageStoreWriter",
    "build_index",
    "ensure_default_index",
    "load_index",
    "make_retriever",
    "read_meta",
    "rrf_fuse",
    "write_store",
]
