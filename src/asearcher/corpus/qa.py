"""A small QA set drawn from a built corpus: "which article is described as '...'?" -> the page title.

The answer is never in the question, so the agent has to search. Only specific descriptions are
used: at least 3 words, unique in the corpus (case-insensitive), and not containing the title
(or the title without its "(...)" disambiguation). Splits are by page and do not depend on the
seed: a page is in "test" when sha1(url) % 10 == 0, else in "train", so train and test never
share a page whatever seeds are used. Within a split, `seed` picks which pages and templates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from asearcher.corpus.atomic import atomic_write, write_json_line
from asearcher.errors import UserError

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
SOURCE = "wiki-lead"
MIN_DESCRIPTION_WORDS = 3
_TEMPLATES = (
    "Which Wikipedia article is described as: '{d}'?",
    "What is the title of the Wikipedia article whose short description is '{d}'?",
    "Name the subject that Wikipedia describes in short as '{d}'.",
    "Which topic has the Wikipedia short description '{d}'?",
)
_DISAMBIG = re.compile(r"\s*\([^()]*\)$")


def _split_of(url: str) -> str:
    return "test" if int(hashlib.sha1(url.encode("utf-8")).hexdigest(), 16) % 10 == 0 else "train"


def aliases(title: str) -> list[str]:
    """Accepted answers for a page title: the title, then without its "(...)" disambiguation."""
    out = [title]
    base = _DISAMBIG.sub("", title)
    if base and base != title:
        out.append(base)
    return out


def _eligible(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pages whose description is specific enough to pin down the page (module docstring rules)."""
    desc_counts = Counter(p["description"].casefold() for p in pages)
    out = []
    for p in pages:
        d = p["description"]
        if len(d.split()) < MIN_DESCRIPTION_WORDS or desc_counts[d.casefold()] > 1:
            continue
        if any(a.casefold() in d.casefold() for a in aliases(p["title"])):
            continue
        out.append(p)
    return out


def _read_pages(pages_path: Path) -> list[dict[str, Any]]:
    """(url, title, description) of every page with a description; only these small fields are kept."""
    if not pages_path.is_file():
        raise UserError(f"{pages_path}: no pages file; QA needs a corpus built from pages (with descriptions)")
    pages = []
    with open(pages_path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("description") and rec.get("title"):
                pages.append({"url": rec["url"], "title": rec["title"], "description": rec["description"].strip()})
    if not pages:
        raise UserError(f'{pages_path}: no page has a "description" field, so no questions can be made')
    return pages


def make_corpus_qa(corpus_dir: Path, n: int, seed: int, split: str) -> list[dict[str, Any]]:
    """Up to `n` questions of `split` ("train" or "test"), deterministic given `seed`.

    Records: {"id", "question", "answer", "golden_answers", "source": "wiki-lead", "url"}, e.g.
    question "Which Wikipedia article is described as: 'Painting by Leonardo da Vinci'?",
    answer "Mona Lisa". Fewer than `n` come back (with a warning) when the split has fewer pages.
    """
    if split not in SPLITS:
        raise UserError(f"split: {split!r} is not one of {list(SPLITS)}")
    if n < 0:
        raise UserError(f"n: must be >= 0, got {n}")
    pool = [p for p in _eligible(_read_pages(Path(corpus_dir) / "pages.jsonl")) if _split_of(p["url"]) == split]
    pool.sort(key=lambda p: p["url"])
    rng = random.Random(f"{seed}-{split}")
    if n > len(pool):
        log.warning("asked for %d %s questions; the corpus has %d eligible pages in that split", n, split, len(pool))
    chosen = rng.sample(pool, min(n, len(pool)))
    out = []
    for p in chosen:
        question = rng.choice(_TEMPLATES).format(d=p["description"])
        out.append(
            {
                "id": f"{SOURCE}-{split}-{hashlib.sha1(p['url'].encode('utf-8')).hexdigest()[:10]}",
                "question": question,
                "answer": p["title"],
                "golden_answers": aliases(p["title"]),
                "source": SOURCE,
                "url": p["url"],
            }
        )
    return out


def write_qa(paths: Any, *, n_train: int, n_test: int, seed: int = 0) -> tuple[int, int]:
    """Write `paths.qa_train` and `paths.qa_test` (a CorpusPaths); returns how many of each."""
    sizes = []
    for split, n, path in (("train", n_train, paths.qa_train), ("test", n_test, paths.qa_test)):
        records = make_corpus_qa(paths.root, n, seed, split)
        with atomic_write(path) as f:
            for rec in records:
                write_json_line(f, rec)
        sizes.append(len(records))
    return sizes[0], sizes[1]
