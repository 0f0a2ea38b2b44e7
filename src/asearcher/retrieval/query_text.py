"""Query text is data: the one rule every retriever applies to user or model text before searching.

A query may hold anything a person or a model can write (quotes, colons, brackets, AND/OR/NOT,
control characters, any script) and anything JSON can carry, including lone UTF-16 surrogates
(`"\\ud800"`), which Python accepts in a `str` but which cannot be encoded as UTF-8 and so make the
Rust tokenizers (tantivy, Hugging Face) raise. No retriever hands query text to a query parser:
BM25 builds its query from analysed terms (bm25.py), dense encodes the text (dense.py).
"""

from __future__ import annotations

MAX_QUERY_CHARS = 16_384
"""Characters of a query that are searched; the rest is ignored.

Real questions are a few hundred characters; the dense encoder reads only its first
`max_seq_length` tokens (256 by default, about 1,500 characters) anyway. The cap bounds the work one
query can cause (a 1 MB query would otherwise tokenise for ~0.3 s in BM25 alone).
"""


def clean_query(text: str) -> str:
    """`text` cut to MAX_QUERY_CHARS, lone surrogates replaced by U+FFFD; everything else kept.

    >>> clean_query("Mona_Lisa \\ud800?")
    'Mona_Lisa \\ufffd?'
    """
    if not isinstance(text, str):
        raise TypeError(f"a query must be a str, got {type(text).__name__}")
    text = text[:MAX_QUERY_CHARS]
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip: a valid high+low pair given as two code points becomes its character,
        # a lone half becomes U+FFFD.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text
