"""Measures candidate BM25 engines (tantivy, bm25s) so the choice in docs/retrieval.md is reproducible.

    python -m asearcher.retrieval.engine_benchmark --corpus passages.jsonl --queries 500
    python -m asearcher.retrieval.engine_benchmark --synthetic 1000000 --engines tantivy

Each (engine, corpus) pair runs in a fresh subprocess so that peak RSS is that engine's own.
Not part of the serving path; it only imports the engines it measures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[A-Za-z]+")


def _iter_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            yield rec.get("contents") or f"{rec.get('title', '')}\n{rec.get('text', '')}"


def write_synthetic(source: Path, n: int, out: Path, words_per_passage: int = 100, seed: int = 0) -> None:
    """`n` passages of words drawn from `source`'s vocabulary with a Zipf-like (1/rank) law."""
    counts: Counter[str] = Counter()
    for text in _iter_texts(source):
        counts.update(w.lower() for w in _WORD.findall(text))
    vocab = np.array([w for w, _ in counts.most_common()])
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    rng = np.random.default_rng(seed)
    chunk = 10_000
    with out.open("w", encoding="utf-8") as f:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            ids = rng.choice(len(vocab), size=(m, words_per_passage), p=p)
            for i in range(m):
                f.write(json.dumps({"id": str(start + i), "contents": " ".join(vocab[ids[i]])}) + "\n")


def _queries(path: Path, k: int, seed: int = 0) -> list[str]:
    """Queries of 3-8 words taken from random passages (so each has at least one match)."""
    rng = random.Random(seed)
    texts = []
    for i, t in enumerate(_iter_texts(path)):
        if i >= 50_000:
            break
        texts.append(t)
    out = []
    for _ in range(k):
        words = _WORD.findall(rng.choice(texts))
        if len(words) < 3:
            continue
        j = rng.randrange(0, max(1, len(words) - 8))
        out.append(" ".join(words[j : j + rng.randint(3, 8)]))
    return out


def _measure_tantivy(corpus: Path, queries: list[str], work: Path) -> dict:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("body", stored=False, tokenizer_name="en_stem", index_option="freq")
    sb.add_integer_field("row", stored=True, indexed=False)
    index = tantivy.Index(sb.build(), path=str(work))
    t0 = time.perf_counter()
    writer = index.writer(heap_size=256_000_000, num_threads=2)
    for row, text in enumerate(_iter_texts(corpus)):
        writer.add_document(tantivy.Document(body=text, row=row))
    writer.commit()
    writer.wait_merging_threads()
    build_s = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()

    def one(q: str) -> None:
        query = index.parse_query(" ".join(w.lower() for w in _WORD.findall(q)), ["body"])
        for _score, addr in searcher.search(query, 10).hits:
            searcher.doc(addr)["row"]

    return {"build_s": build_s, **_time_queries(one, None, queries)}


def _measure_bm25s(corpus: Path, queries: list[str], work: Path) -> dict:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    texts = list(_iter_texts(corpus))  # bm25s's documented API tokenizes an in-memory list
    tokens = bm25s.tokenize(texts, stemmer=stemmer, show_progress=False)
    del texts
    model = bm25s.BM25()
    model.index(tokens, show_progress=False)
    build_s = time.perf_counter() - t0

    def one(q: str) -> None:
        model.retrieve(bm25s.tokenize([q], stemmer=stemmer, show_progress=False), k=10, show_progress=False)

    def batch(qs: list[str]) -> None:
        model.retrieve(bm25s.tokenize(qs, stemmer=stemmer, show_progress=False), k=10, show_progress=False)

    return {"build_s": build_s, **_time_queries(one, batch, queries)}


def _time_queries(one, batch, queries: list[str]) -> dict:
    lat = []
    for q in queries:
        t = time.perf_counter()
        one(q)
        lat.append(time.perf_counter() - t)
    lat_ms = np.array(lat) * 1000
    out = {"p50_ms": float(np.percentile(lat_ms, 50)), "p99_ms": float(np.percentile(lat_ms, 99))}
    t = time.perf_counter()
    if batch is None:
        for q in queries:
            one(q)
    else:
        batch(queries)
    out["batch_qps"] = len(queries) / (time.perf_counter() - t)
    return out


def _child(engine: str, corpus: Path, n_queries: int) -> None:
    queries = _queries(corpus, n_queries)
    with tempfile.TemporaryDirectory() as work:
        fn = _measure_tantivy if engine == "tantivy" else _measure_bm25s
        result = fn(corpus, queries, Path(work))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "corpus": str(corpus), **result}))


def main(argv: list[str] | None = None) -> None:
    """Run each engine on the corpus in its own subprocess and print one JSON line per run."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="passages JSONL (also the vocabulary source)")
    ap.add_argument("--synthetic", type=int, default=0, help="benchmark N synthetic passages instead")
    ap.add_argument("--engines", default="tantivy,bm25s")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.corpus, args.queries)
        return
    corpus = args.corpus
    if args.synthetic:
        corpus = Path(tempfile.gettempdir()) / f"asearcher-synthetic-{args.synthetic}.jsonl"
        if not corpus.exists():
            t = time.perf_counter()
            write_synthetic(args.corpus, args.synthetic, corpus)
            print(f"# wrote {corpus} in {time.perf_counter() - t:.0f}s", flush=True)
    for engine in args.engines.split(","):
        cmd = [sys.executable, "-m", __name__.replace("__main__", "asearcher.retrieval.engine_benchmark")]
        subprocess.run([*cmd, "--corpus", str(corpus), "--queries", str(args.queries), "--child", engine], check=False)


if __name__ == "__main__":
    main()
