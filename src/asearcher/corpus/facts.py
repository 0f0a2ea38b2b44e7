"""Fact questions drawn from the corpus text: a sentence of a page with one span blanked out.

    Complete this sentence from Wikipedia with the missing year: "The tower was completed in ___."
    -> "1889"

The answer is a span a reader extracts (a year, or a name the page links to: a person, place,
work, organisation), never a page title chosen from a list, so copying a hit's title earns
nothing. Where the sentence sits in its page decides how much work the agent needs: near the top
it is visible in a search hit's snippet (`tools.max_chars_per_hit` characters), further down only
after reading the page (`access`). `offset` in each record says which (docs/cpu-default.md).

Rules, chosen so that the blank has one right answer that the corpus states:

- sentences of 8-30 words; the blank occurs once in its sentence and is not the page's own title;
- a year blank is the sentence's only year (1000-2029);
- a name blank is a link of the page (corpus/links.py rules: a known title, longest match);
- at most one question per page; splits by page exactly as corpus/qa.py (sha1(url) % 10 == 0 is
  "test"), so held-out questions come from pages never used in training.

Two-hop ("bridge") questions follow the link graph (`make_bridge_qa`): the name missing from a
sentence of page A is X, a page of its own; the answer is the year missing from a sentence of X's
page that does not name X:

    Let X be the name missing from "Rastafari ... developed in ___ during the 1930s." Complete this
    sentence from the Wikipedia article on X with the missing year: "It gained independence in ___."
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from pathlib import Path
from typing import Any

from asearcher.corpus.atomic import atomic_write, write_json_line
from asearcher.corpus.links import TitleMatcher
from asearcher.corpus.qa import SPLITS, _split_of, aliases
from asearcher.errors import UserError

log = logging.getLogger(__name__)

SOURCE = "wiki-facts"
BLANK = "___"
MIN_WORDS, MAX_WORDS = 8, 30
_YEAR = re.compile(r"\b(1\d{3}|20[0-2]\d)\b")
# A sentence ends at [.!?] followed by a space and a capital or digit (so "St. Louis" rarely splits
# wrongly and "3.5" never does); good enough for lead sections.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
TEMPLATES = {
    "year": 'Complete this sentence from Wikipedia with the missing year: "{s}"',
    "name": 'Complete this sentence from Wikipedia with the missing name: "{s}"',
}
BRIDGE_TEMPLATE = ('Let X be the name missing from "{a}". Complete this sentence from the Wikipedia article on X '
                   'with the missing year: "{b}"')
_CLOZE = re.compile(r'"(.+)"\s*$', re.DOTALL)
_BRIDGE = re.compile(r'^Let X be the name missing from "(.+)"\. Complete this sentence from the Wikipedia article '
                     r'on X with the missing year: "(.+)"$', re.DOTALL)


def sentences(text: str) -> list[tuple[int, str]]:
    """(character offset, sentence) pairs of `text`.

    >>> sentences("It rained. Then 3.5 cm fell.")
    [(0, 'It rained.'), (11, 'Then 3.5 cm fell.')]
    """
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append((start, text[start:m.start()]))
        start = m.end()
    if start < len(text):
        out.append((start, text[start:]))
    return [(o, s.strip()) for o, s in out if s.strip()]


def cloze_of(question: str) -> str:
    """The quoted sentence (with its blank) of a fact question; '' when the question has none."""
    m = _CLOZE.search(question)
    return m.group(1) if m else ""


def parse_fact_question(question: str) -> list[tuple[str, str]]:
    """The (cloze, kind) hops of a fact question, in order; [] for any other question.

    >>> parse_fact_question('Complete this sentence from Wikipedia with the missing year: "Built in ___."')
    [('Built in ___.', 'year')]
    """
    m = _BRIDGE.match(question)
    if m:
        return [(m.group(1), "name"), (m.group(2), "year")]
    for kind, template in TEMPLATES.items():
        if question.startswith(template.split("{s}")[0]):
            return [(cloze_of(question), kind)]
    return []


def _stands_alone(sentence: str, span: str) -> bool:
    """Whether `span` is a whole name in `sentence`, not part of a longer one.

    "the ___ Gulf War" (span "Second") or "the Early ___" (span "Renaissance") would have several
    defensible answers, so a capitalised word or a hyphen right next to the span disqualifies it
    (a capitalised sentence start does not count).
    """
    i = sentence.index(span)
    before, after = sentence[:i], sentence[i + len(span):]
    if before.endswith("-") or after[:1].isalnum() or after.startswith("-"):
        return False
    prev = before.split()
    if len(prev) > 1 and prev[-1][:1].isupper():
        return False
    nxt = after.split()
    return not (nxt and nxt[0][:1].isupper())


def _blanks(sentence: str, title: str, matcher: TitleMatcher) -> list[tuple[str, str, list[str], str]]:
    """Candidate (kind, span, gold aliases, linked title or "") blanks of one sentence (module docstring rules)."""
    out = []
    years = _YEAR.findall(sentence)
    if len(years) == 1:
        out.append(("year", years[0], [years[0]], ""))
    for linked in matcher.mentions(sentence, exclude=title):
        span = next((a for a in aliases(linked) if a in sentence), None)
        if span and sentence.count(span) == 1 and span not in title and _stands_alone(sentence, span):
            out.append(("name", span, list(dict.fromkeys([span, *aliases(linked)])), linked))
    return out


def _candidates(pages: list[dict[str, Any]], matcher: TitleMatcher) -> list[dict[str, Any]]:
    """Every (page, sentence, blank) that passes the rules, one list entry per candidate."""
    out = []
    for p in pages:
        for offset, s in sentences(p["text"]):
            if not MIN_WORDS <= len(s.split()) <= MAX_WORDS or BLANK in s:
                continue
            for kind, span, golds, target in _blanks(s, p["title"], matcher):
                out.append({"page": p, "offset": offset, "sentence": s, "kind": kind, "span": span,
                            "golds": golds, "target": target})
    return out


def make_fact_qa(pages: list[dict[str, Any]], n: int, seed: int, split: str) -> list[dict[str, Any]]:
    """Up to `n` fact questions of `split` from `pages` ({"url", "title", "text"}), deterministic.

    Records: {"id", "question", "answer", "golden_answers", "source": "wiki-facts", "url", "title",
    "kind": "year"|"name", "offset"}. Half year and half name blanks where the split has enough.
    """
    if split not in SPLITS:
        raise UserError(f"split: {split!r} is not one of {list(SPLITS)}")
    matcher = TitleMatcher({p["title"]: p["url"] for p in pages})
    pool = sorted((p for p in pages if _split_of(p["url"]) == split), key=lambda p: p["url"])
    rng = random.Random(f"{seed}-{split}-facts")
    by_page: dict[str, list[dict[str, Any]]] = {}
    for c in _candidates(pool, matcher):
        by_page.setdefault(c["page"]["url"], []).append(c)
    # One question per page: a year blank on some pages and a name blank on others, alternating,
    # so neither kind crowds out the other.
    urls = sorted(by_page)
    rng.shuffle(urls)
    out: list[dict[str, Any]] = []
    for i, url in enumerate(urls):
        if len(out) >= n:
            break
        want = ("year", "name")[i % 2]
        cands = [c for c in by_page[url] if c["kind"] == want] or by_page[url]
        c = rng.choice(cands)
        out.append(_record(c, split))
    if len(out) < n:
        log.warning("asked for %d %s fact questions; the corpus gives %d", n, split, len(out))
    return out


def _record(c: dict[str, Any], split: str) -> dict[str, Any]:
    cloze = c["sentence"].replace(c["span"], BLANK, 1)
    url = c["page"]["url"]
    return {
        "id": f"{SOURCE}-{split}-{hashlib.sha1(url.encode('utf-8')).hexdigest()[:10]}",
        "question": TEMPLATES[c["kind"]].format(s=cloze),
        "answer": c["span"],
        "golden_answers": c["golds"],
        "source": SOURCE,
        "url": url,
        "title": c["page"]["title"],
        "kind": c["kind"],
        "offset": c["offset"],
    }


def make_bridge_qa(pages: list[dict[str, Any]], n: int, seed: int, split: str) -> list[dict[str, Any]]:
    """Up to `n` two-hop questions of `split`: a name blanked on page A (a page of `split`) names page
    B; the answer is the year blanked in a sentence of B that does not name B itself, so the second
    sentence alone rarely finds B and the agent must first find X on A, then search B with X.

    Records as `make_fact_qa` with kind "bridge", "bridge" (X) and "url2" (B's URL). Held-out
    questions start on held-out pages, so their paths (A -> B) never occur in training.
    """
    if split not in SPLITS:
        raise UserError(f"split: {split!r} is not one of {list(SPLITS)}")
    matcher = TitleMatcher({p["title"]: p["url"] for p in pages})
    years: dict[str, list[dict[str, Any]]] = {}
    for c in _candidates(pages, matcher):
        if c["kind"] == "year" and not any(a in c["sentence"] for a in aliases(c["page"]["title"])):
            years.setdefault(c["page"]["title"], []).append(c)
    pool = sorted((p for p in pages if _split_of(p["url"]) == split), key=lambda p: p["url"])
    by_page: dict[str, list[dict[str, Any]]] = {}
    for c in _candidates(pool, matcher):
        if c["kind"] == "name" and c["target"] in years:
            by_page.setdefault(c["page"]["url"], []).append(c)
    rng = random.Random(f"{seed}-{split}-bridge")
    urls = sorted(by_page)
    rng.shuffle(urls)
    out = []
    for url in urls[:n]:
        a = rng.choice(by_page[url])
        b = rng.choice(years[a["target"]])
        rec = _record(b, split)
        rec.update({"id": f"{SOURCE}-bridge-{split}-{hashlib.sha1(url.encode('utf-8')).hexdigest()[:10]}",
                    "question": BRIDGE_TEMPLATE.format(a=a["sentence"].replace(a["span"], BLANK, 1),
                                                       b=b["sentence"].replace(b["span"], BLANK, 1)),
                    "kind": "bridge", "bridge": a["span"], "url": url, "url2": b["page"]["url"],
                    "title": a["page"]["title"], "offset": a["offset"], "offset2": b["offset"]})
        out.append(rec)
    if len(out) < n:
        log.warning("asked for %d %s bridge questions; the corpus gives %d", n, split, len(out))
    return out


def read_pages(pages_path: Path) -> list[dict[str, Any]]:
    """(url, title, text) of every page of a built corpus."""
    if not Path(pages_path).is_file():
        raise UserError(f"{pages_path}: no pages file; fact questions need a corpus built from pages")
    with open(pages_path, encoding="utf-8") as f:
        return [{"url": r["url"], "title": r["title"], "text": r["text"]}
                for r in map(json.loads, f) if r.get("title") and r.get("text")]


def fact_paths(corpus_dir: Path) -> dict[str, Path]:
    """Where the fact questions of a corpus live: {"train", "test", "bridge_train", "bridge_test"}."""
    return {**{s: Path(corpus_dir) / f"facts_{s}.jsonl" for s in SPLITS},
            **{f"bridge_{s}": Path(corpus_dir) / f"facts_bridge_{s}.jsonl" for s in SPLITS}}


def ensure_fact_qa(corpus_dir: Path | None = None, *, n_train: int = 2000, n_test: int = 300,
                   seed: int = 0) -> dict[str, Path]:
    """Write the fact questions next to a corpus (default: the embedded one) once; returns their paths."""
    if corpus_dir is None:
        from asearcher.corpus.build import ensure_default_corpus  # build -> qa: kept out of import time

        corpus_dir = ensure_default_corpus().root
    paths = fact_paths(corpus_dir)
    if all(p.is_file() for p in paths.values()):
        return paths
    pages = read_pages(Path(corpus_dir) / "pages.jsonl")
    for split, n in (("train", n_train), ("test", n_test)):
        for key, make in ((split, make_fact_qa), (f"bridge_{split}", make_bridge_qa)):
            with atomic_write(paths[key]) as f:
                for rec in make(pages, n, seed, split):
                    write_json_line(f, rec)
    log.info("wrote fact questions to %s", corpus_dir)
    return paths
