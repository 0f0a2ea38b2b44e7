"""Dense and hybrid search on the embedded corpus (~10k passages: embedding takes minutes on 2 cores)."""

from __future__ import annotations

import pytest

from asearcher.retrieval import load_index
from asearcher.retrieval.index_io import ensure_default_index


@pytest.mark.slow
def test_mona_lisa_in_top3_dense_and_hybrid(wiki_corpus_dir):
    # One hybrid build serves both checks: its folder is also a complete dense index.
    from asearcher.retrieval import DenseRetriever

    hybrid = load_index(ensure_default_index("hybrid"))
    for r in (hybrid, DenseRetriever.load(hybrid.dir)):
        titles = [h.passage.title for h in r.search("Who painted the Mona Lisa?", 3)]
        assert "Mona Lisa" in titles or "Leonardo da Vinci" in titles, (r.kind, titles)
