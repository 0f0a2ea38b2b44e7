"""Chunking into ~N-word passages and the stable id scheme."""

import pytest

from asearcher.corpus.chunking import chunk_words, passage_id


@pytest.mark.parametrize(("n_words", "sizes"), [(0, []), (7, [7]), (130, [130]), (160, [80, 80]), (311, [104, 104, 103])])
def test_chunk_sizes(n_words, sizes):
    text = " ".join(f"w{i}" for i in range(n_words))
    chunks = chunk_words(text, 100)
    assert [len(c.split()) for c in chunks] == sizes
    assert " ".join(chunks) == text  # nothing lost or reordered


def test_passage_id_depends_only_on_url_and_index():
    a = passage_id("https://en.wikipedia.org/wiki/Mona_Lisa", 0)
    assert a == passage_id("https://en.wikipedia.org/wiki/Mona_Lisa", 0)
    assert a != passage_id("https://en.wikipedia.org/wiki/Mona_Lisa", 1)
    assert a.endswith("-0") and len(a) == 14
