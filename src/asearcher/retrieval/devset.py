"""Retrieval dev sets: questions with a known evidence page, and recall@k of a retriever on them.

A dev set is JSONL, one {"question", "url"} (or {"question", "title"}) object per line: a hit
counts when its passage comes from that page (same `url`, else same `title`). Indexes imported
from Search-R1 files have titles but no URLs, hence the title form.

`wiki_lead_devset` builds one over the embedded corpus from the project's own corpus QA questions
(corpus/qa.py: "Which Wikipedia article is described as '<Wikidata short description>'?", answer:
the page): real Wikipedia pages, human-written descriptions, and evidence known by construction.
With form "description" the question is the description alone, the short keyword query an agent
tends to send. Its "tune" part uses the QA "train" pages and its "heldout" part the QA "test" pages (split by a
hash of the URL), so weights tuned on one are measured on pages they never saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asearcher.api.documents import Hit
from asearcher.errors import UserError

KS = (1, 5, 10)
PARTS = {"tune": "train", "heldout": "test"}  # dev-set part -> corpus QA split
FORMS = ("question", "description")


@dataclass(frozen=True)
class DevQuestion:
    """A question and its evidence page (matched by url when given, else by title)."""

    question: str
    url: str = ""
    title: str = ""

    def found_in(self, hits: Sequence[Hit]) -> bool:
        """Whether any hit comes from the evidence page."""
        if self.url:
            return any(h.passage.url == self.url for h in hits)
        return any(h.passage.title == self.title for h in hits)


def read_devset(path: Path) -> list[DevQuestion]:
    """The questions of a dev-set JSONL; UserError naming the file and line for a bad record."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dev set not found: {path}")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not JSON ({e})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("question"), str) or not rec["question"].strip():
                raise UserError(f'{path}:{n}: needs a non-empty "question" string')
            url, title = rec.get("url") or "", rec.get("title") or ""
            if not (isinstance(url, str) and isinstance(title, str)) or not (url or title):
                raise UserError(f'{path}:{n}: needs the evidence page as a "url" or "title" string')
            out.append(DevQuestion(rec["question"], url, title))
    if not out:
        raise UserError(f"{path}: no questions")
    return out


def recall_at(dev: Sequence[DevQuestion], hit_lists: Sequence[Sequence[Hit]], ks: Sequence[int] = KS) -> dict[int, float]:
    """Recall@k for each k: the share of questions whose evidence page is among the first k hits."""
    if len(dev) != len(hit_lists):
        raise ValueError(f"{len(dev)} questions but {len(hit_lists)} hit lists")
    return {k: sum(q.found_in(hits[:k]) for q, hits in zip(dev, hit_lists, strict=True)) / len(dev) for k in ks}


def wiki_lead_devset(corpus_dir: Path, part: str, n: int, seed: int = 0, form: str = "question") -> list[dict[str, str]]:
    """Up to `n` dev records of `part` ("tune" or "heldout") from a corpus built from pages.

    form "question": the QA question as asked ("Which Wikipedia article is described as '...'?");
    form "description": the short description alone, as an agent's keyword search would send it.
    """
    from asearcher.corpus.qa import make_corpus_qa

    if part not in PARTS:
        raise UserError(f"part: {part!r} is not one of {list(PARTS)}")
    if form not in FORMS:
        raise UserError(f"form: {form!r} is not one of {list(FORMS)}")
    records = make_corpus_qa(Path(corpus_dir), n, seed, PARTS[part])
    if form == "description":
        described = _descriptions(Path(corpus_dir) / "pages.jsonl", {r["url"] for r in records})
        return [{"question": described[r["url"]], "url": r["url"], "title": r["answer"]} for r in records]
    return [{"question": r["question"], "url": r["url"], "title": r["answer"]} for r in records]


def _descriptions(pages: Path, urls: set[str]) -> dict[str, str]:
    out = {}
    with open(pages, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["url"] in urls:
                out[rec["url"]] = rec["description"].strip()
    return out


def write_devset(records: Sequence[dict[str, str]], out: Path) -> None:
    """Write dev records as JSONL (creating the folder)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
