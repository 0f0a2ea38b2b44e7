"""Dense speed knobs that must not change results: bf16 vs fp32 encoding, threads, the embedding cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tiny_corpus import EASY

from asearcher import hardware
from asearcher.errors import UserError
from asearcher.retrieval import DenseConfig, DenseRetriever
from asearcher.hardware import resolve_dtype
from asearcher.retrieval.embedder import Embedder

QUERIES = [q for q, _ in EASY]


@pytest.fixture(scope="module")
def fp32_and_bf16():
    # Forced dtypes: bf16 autocast runs on any CPU (emulated where it is not native), so this
    # comparison runs everywhere; only the speed differs.
    return Embedder(DenseConfig(dtype="float32")), Embedder(DenseConfig(dtype="bfloat16"))


def test_bf16_vectors_match_fp32(fp32_and_bf16, tiny_passages):
    fp32, bf16 = fp32_and_bf16
    assert (fp32.dtype, bf16.dtype) == ("float32", "bfloat16")
    for encode in ("encode_queries", "encode_passages"):
        items = QUERIES if encode == "encode_queries" else tiny_passages
        a, b = getattr(fp32, encode)(items), getattr(bf16, encode)(items)
        assert b.dtype == np.float32 and b.shape == a.shape
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)  # still unit vectors
        cos = (a * b).sum(axis=1)
        assert cos.min() > 0.999, (encode, cos)


def test_an_index_built_in_one_dtype_is_searched_with_the_other(fp32_and_bf16, tiny_dense_dir):
    fp32, bf16 = fp32_and_bf16
    r = DenseRetriever.load(tiny_dense_dir)
    r._embedder = fp32
    want = [[h.passage.id for h in hits] for hits in r.batch_search(QUERIES, 3)]
    r._embedder = bf16
    got = [[h.passage.id for h in hits] for hits in r.batch_search(QUERIES, 3)]
    assert got == want
    assert [hits[0] for hits in got] == [pid for _q, pid in EASY]


def test_auto_dtype_follows_the_cpu_flags(monkeypatch):
    monkeypatch.delenv(hardware.DTYPE_ENV, raising=False)  # CI's fp32 pass sets it
    assert resolve_dtype("float32", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    # Fake /proc/cpuinfo flags: a CPU with and one without native bf16 cannot both be had here.
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert resolve_dtype("auto", "cpu") == "bfloat16"


def test_negative_threads_is_a_user_error():
    with pytest.raises(UserError, match="dense.threads"):
        DenseConfig(threads=-1).validate()


def test_embedding_cache_skips_embedding_on_a_rebuild(fp32_and_bf16, tiny_passages, tmp_path):
    cache = tmp_path / "cache"
    first = DenseRetriever(DenseConfig(dtype="float32", embedding_cache=str(cache)), tmp_path / "a")
    first._embedder = fp32_and_bf16[0]  # share the loaded model: loading it again costs seconds
    first.index(tiny_passages)
    first.save(tmp_path / "a")
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 2 and entries[0].endswith(".f32.npy") and entries[1].endswith(".json")
    assert json.loads((cache / entries[1]).read_text())["rows"] == len(tiny_passages)
    assert json.loads((tmp_path / "a" / "dense.json").read_text())["passage_dtype"] == "float32"

    # Another index type over the same passages: the vectors come from the cache, the model never loads.
    second = DenseRetriever(DenseConfig(dtype="float32", embedding_cache=str(cache), index_type="hnsw"),
                            tmp_path / "b")
    second.index(tiny_passages)
    assert second._embedder is None
    second._embedder = fp32_and_bf16[0]
    first_hits = [[h.passage.id for h in hits] for hits in first.batch_search(QUERIES, 1)]
    assert [[h.passage.id for h in hits] for hits in second.batch_search(QUERIES, 1)] == first_hits

    # A setting that changes the vectors (here the passage prefix) is another key: embedded again.
    third = DenseRetriever(DenseConfig(dtype="float32", embedding_cache=str(cache), passage_prefix="passage: "),
                           tmp_path / "c")
    third._embedder = Embedder(third.config)
    third.index(tiny_passages)
    assert len([p for p in cache.iterdir() if p.name.endswith(".f32.npy")]) == 2


def test_a_damaged_cache_entry_is_re_embedded(fp32_and_bf16, tiny_passages, tmp_path):
    cache = tmp_path / "cache"
    r = DenseRetriever(DenseConfig(dtype="float32", embedding_cache=str(cache)), tmp_path / "a")
    r._embedder = fp32_and_bf16[0]
    r.index(tiny_passages)
    (entry,) = cache.glob("*.f32.npy")
    np.save(entry, np.zeros((3, 384), dtype=np.float32))  # wrong row count for this key
    again = DenseRetriever(DenseConfig(dtype="float32", embedding_cache=str(cache)), tmp_path / "b")
    again._embedder = fp32_and_bf16[0]
    again.index(tiny_passages)
    assert np.load(entry).shape == (len(tiny_passages), 384)
    assert again.search(QUERIES[0], 1)[0].passage.id == EASY[0][1]
    assert not [p for p in os.listdir(cache) if p.endswith(".tmp")]


def test_concurrent_encodes_from_threads_give_the_serial_vectors(fp32_and_bf16):
    # The server's batch workers encode from several threads at once (the tokenizer is shared).
    from concurrent.futures import ThreadPoolExecutor

    e = fp32_and_bf16[0]
    batches = [QUERIES[i:] + QUERIES[:i] for i in range(len(QUERIES))] * 4
    serial = [e.encode_queries(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(e.encode_queries, batches))
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_the_dtype_env_overrides_auto_only(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.setenv(hardware.DTYPE_ENV, "float32")
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"  # an explicit choice is kept
    monkeypatch.setenv(hardware.DTYPE_ENV, "fp16")
    with pytest.raises(UserError, match="ASEARCHER_DTYPE='fp16'"):
        resolve_dtype("auto", "cpu")
