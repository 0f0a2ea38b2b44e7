"""BM25 retriever on tantivy (Rust, streaming indexing, ~0.3 ms per query on 12k passages).

Index folder: the shared passage store (passage_store.py), `tantivy/` (the inverted index, which
stores only each document's row) and `bm25.json` (this retriever's config).
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import tantivy
from tqdm import tqdm

from asearcher.api.documents import Hit, Passage
from asearcher.config import from_dict, to_dict
from asearcher.errors import UserError
from asearcher.retrieval.config import BM25Config
from asearcher.retrieval.passage_store import META_FILE, OFFSETS_FILE, TEXT_FILE, PassageStore, write_store
from asearcher.retrieval.query_text import clean_query

log = logging.getLogger(__name__)

CONFIG_FILE = "bm25.json"
TANTIVY_DIR = "tantivy"
MAX_QUERY_TERMS = 1024
"""Distinct terms of one query that are searched (the first ones); bounds the work of huge queries."""

# The analysers tantivy registers under these names (tantivy/src/tokenizer/tokenizer_manager.rs):
# simple tokenizer (splits on non-alphanumeric chars), tokens over 40 bytes dropped, lowercased, and
# for en_stem the English Porter stemmer. Queries must be analysed exactly as the indexed text was.
_STEMMERS = {"en_stem": "english", "default": None}


@functools.cache
def _analyzer(tokenizer_name: str) -> tantivy.TextAnalyzer:
    if tokenizer_name not in _STEMMERS:
        raise ValueError(f"no query analyser for tantivy tokenizer {tokenizer_name!r}")
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    builder = builder.filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase())
    if _STEMMERS[tokenizer_name]:
        builder = builder.filter(tantivy.Filter.stemmer(_STEMMERS[tokenizer_name]))
    return builder.build()


def query_terms(query: str, tokenizer_name: str = "en_stem") -> list[str]:
    """The query's distinct index terms in order, analysed as the index analysed its passages.

    Nothing in the text is syntax: `Mona_Lisa` is the two terms mona + lisa, `AND` the term "and",
    `title:x` the terms title + x. At most MAX_QUERY_TERMS distinct terms are kept.
    """
    terms = dict.fromkeys(_analyzer(tokenizer_name).analyze(clean_query(query)))
    return list(terms)[:MAX_QUERY_TERMS]


def _schema(config: BM25Config) -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    # Term frequencies are all BM25 needs; positions (phrase queries) would double the index.
    sb.add_text_field("body", stored=False, tokenizer_name=config.stemmer, index_option="freq")
    sb.add_integer_field("row", stored=True, indexed=False)
    return sb.build()


class BM25Retriever:
    """BM25 (tantivy defaults k1=1.2, b=0.75) over title + text of each passage."""

    kind = "bm25"

    def __init__(self, config: BM25Config | None = None, workdir: Path | None = None) -> None:
        """`workdir` receives the index files as they are built (a temporary folder when None)."""
        self.config = config or BM25Config()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="asearcher-bm25-")
        self.dir = Path(workdir or self._tmp.name)
        self.store: PassageStore | None = None
        self._index: tantivy.Index | None = None
        self._searcher: tantivy.Searcher | None = None

    def index(self, passages: Iterable[Passage]) -> None:
        """Write the passage store, then the inverted index, into the work folder."""
        self.index_store(write_store(passages, self.dir))

    def index_store(self, store: PassageStore) -> None:
        """Build the inverted index over an existing store (hybrid indexes share one store)."""
        t0 = time.perf_counter()
        idx_dir = self.dir / TANTIVY_DIR
        shutil.rmtree(idx_dir, ignore_errors=True)
        idx_dir.mkdir(parents=True)
        index = tantivy.Index(_schema(self.config), path=str(idx_dir))
        writer = index.writer(heap_size=self.config.writer_heap_mb * 1_000_000, num_threads=self.config.writer_threads)
        for row, p in enumerate(tqdm(store, total=len(store), desc="bm25 index", unit="psg", mininterval=1.0)):
            writer.add_document(tantivy.Document(body=f"{p.title}\n{p.text}", row=row))
        writer.commit()
        writer.wait_merging_threads()
        log.info("bm25: indexed %d passages in %.1fs", len(store), time.perf_counter() - t0)
        self._open(store, index)

    def _open(self, store: PassageStore, index: tantivy.Index) -> None:
        index.reload()
        self.store, self._index, self._searcher = store, index, index.searcher()

    def search(self, query: str, topk: int) -> list[Hit]:
        """The `topk` best passages by BM25; [] for a query with no words or topk < 1."""
        if self._searcher is None:
            raise RuntimeError("BM25Retriever.search before index() or load()")
        terms = query_terms(query, self.config.stemmer)
        if not terms or topk < 1:
            return []
        hits = self._searcher.search(self._query(terms), topk).hits
        rows = [self._searcher.doc(addr)["row"][0] for _score, addr in hits]
        return [Hit(p, float(score)) for p, (score, _addr) in zip(self.store.get_many(rows), hits, strict=True)]

    def _query(self, terms: list[str]) -> tantivy.Query:
        """OR of one term query per distinct term, built, never parsed, so no text can be syntax.

        Scores equal those of tantivy's parser on the same words (it too makes a BooleanQuery of
        SHOULD TermQueries, one per distinct term; checked in tests/retrieval/test_query_text.py).
        """
        schema = self._index.schema
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t, index_option="freq")) for t in terms])

    def batch_search(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """`search` for each query (tantivy answers one in ~0.3 ms; a loop is already efficient)."""
        return [self.search(q, topk) for q in queries]

    def save(self, out_dir: Path) -> None:
        """Write the index to `out_dir` (copying the files when it is not the work folder)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if out_dir.resolve() != self.dir.resolve():
            for name in (TEXT_FILE, OFFSETS_FILE, META_FILE):
                shutil.copy2(self.dir / name, out_dir / name)
            shutil.copytree(self.dir / TANTIVY_DIR, out_dir / TANTIVY_DIR, dirs_exist_ok=True)
        (out_dir / CONFIG_FILE).write_text(json.dumps({"config": to_dict(self.config)}, indent=1))

    @classmethod
    def load(cls, index_dir: Path) -> BM25Retriever:
        """Open a saved BM25 index (read-only; files stay where they are)."""
        index_dir = Path(index_dir)
        conf_path = index_dir / CONFIG_FILE
        if not conf_path.is_file() or not (index_dir / TANTIVY_DIR).is_dir():
            raise UserError(f"{index_dir}: not a BM25 index (missing {CONFIG_FILE} or {TANTIVY_DIR}/)")
        try:
            config = from_dict(BM25Config, json.loads(conf_path.read_text())["config"], "bm25")
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{conf_path}: corrupt ({e})") from None
        self = cls(config, workdir=index_dir)
        try:
            index = tantivy.Index.open(str(index_dir / TANTIVY_DIR))
        except ValueError as e:
            raise UserError(f"{index_dir / TANTIVY_DIR}: cannot open the tantivy index ({e})") from None
        self._open(PassageStore(index_dir), index)
        return self

    def __len__(self) -> int:
        return len(self.store) if self.store is not None else 0
