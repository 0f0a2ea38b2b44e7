"""Building a corpus folder (pages, passages, link graph, manifest) from the embedded source or a user file.

Layout of a built corpus (formats in docs/corpus.md):

    pages.jsonl     {"url", "title", "text"[, "description", "topic"]}    one line per page
    passages.jsonl  {"id", "contents", "url"}                              Search-R1 format + url
    links.jsonl     {"url", "title", "links": [{"title", "url"}, ...]}     one line per page
    qa_train.jsonl, qa_test.jsonl                                          embedded corpus only
    manifest.json   counts, source, licence; written LAST

Every file is written to a temp name and renamed, and the manifest goes last (and is removed
first on a rebuild), so a folder with a manifest is always a complete corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from asearcher import __version__
from asearcher.api.documents import Page, Passage
from asearcher.corpus import wiki_lead
from asearcher.corpus.atomic import atomic_write, write_json, write_json_line
from asearcher.corpus.chunking import chunk_words, passage_id
from asearcher.corpus.links import TitleMatcher
from asearcher.corpus.readers import ReadStats, iter_pages, iter_passages, iter_records, parse_page, parse_passage
from asearcher.corpus.urls import normalize_url
from asearcher.errors import UserError
from asearcher.paths import default_corpus_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ID_SCHEME = "sha1(canonical page url)[:12] + '-' + chunk index"


@dataclass(frozen=True, slots=True)
class CorpusPaths:
    """The files of a built corpus folder (a file may be absent: see `manifest.json` "files")."""

    root: Path

    @property
    def pages(self) -> Path:
        return self.root / "pages.jsonl"

    @property
    def passages(self) -> Path:
        return self.root / "passages.jsonl"

    @property
    def links(self) -> Path:
        return self.root / "links.jsonl"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def qa_train(self) -> Path:
        return self.root / "qa_train.jsonl"

    @property
    def qa_test(self) -> Path:
        return self.root / "qa_test.jsonl"

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict; UserError when the folder is not a complete corpus."""
        if not self.manifest.is_file():
            raise UserError(f"{self.root}: not a built corpus (no manifest.json); run `asearcher corpus build`")
        try:
            return json.loads(self.manifest.read_text(encoding="utf-8"))
        except ValueError as e:
            raise UserError(f"{self.manifest}: not valid JSON ({e}); rebuild with `asearcher corpus build`") from None

    def is_complete(self) -> bool:
        """True when the manifest is readable and every file it lists is present."""
        try:
            files = self.read_manifest().get("files", {})
        except UserError:
            return False
        return all((self.root / name).is_file() for name in files.values())


@dataclass
class _Counts:
    pages: int = 0
    passages: int = 0
    duplicate_pages: int = 0
    links: int = 0
    pages_with_links: int = 0


def _page_record(page: Page, extra: dict[str, str]) -> dict[str, str]:
    rec = {"url": page.url, "title": page.title, "text": page.text}
    rec.update({k: v for k, v in extra.items() if v})
    return rec


def _write_pages_and_passages(
    pages: Iterable[tuple[Page, dict[str, str]]], paths: CorpusPaths, words: int, total: int | None, counts: _Counts
) -> dict[str, str]:
    """Stream pages into pages.jsonl and their chunks into passages.jsonl; returns title -> url."""
    titles: dict[str, str] = {}
    seen: set[str] = set()
    with atomic_write(paths.pages) as fp, atomic_write(paths.passages) as fq:
        for page, extra in tqdm(pages, total=total, desc="pages", unit="page", disable=None):
            if page.url in seen:  # the same page twice would give duplicate passage ids
                counts.duplicate_pages += 1
                continue
            seen.add(page.url)
            write_json_line(fp, _page_record(page, extra))
            counts.pages += 1
            if page.title:
                titles.setdefault(page.title, page.url)
            for i, chunk in enumerate(chunk_words(page.text, words)):
                p = Passage(id=passage_id(page.url, i), title=page.title, text=chunk, url=page.url)
                write_json_line(fq, {"id": p.id, "contents": p.contents, "url": p.url})
                counts.passages += 1
    if counts.duplicate_pages:
        log.warning("skipped %d page(s) whose URL was already seen", counts.duplicate_pages)
    return titles


def _write_links(paths: CorpusPaths, titles: dict[str, str], counts: _Counts) -> None:
    """Second pass over the written pages: the link graph."""
    matcher = TitleMatcher(titles)
    with atomic_write(paths.links) as f:
        for page in tqdm(iter_pages(paths.pages), total=counts.pages, desc="links", unit="page", disable=None):
            links = matcher.links(page.title, page.text)
            write_json_line(f, {"url": page.url, "title": page.title, "links": links})
            counts.links += len(links)
            counts.pages_with_links += bool(links)


def _write_manifest(paths: CorpusPaths, manifest: dict[str, Any]) -> None:
    files = {k: getattr(paths, k).name for k in ("pages", "passages", "links", "qa_train", "qa_test")}
    manifest["files"] = {k: v for k, v in files.items() if (paths.root / v).is_file()}
    write_json(paths.manifest, {"format": "asearcher-corpus", "format_version": FORMAT_VERSION, **manifest})


def _start(out_dir: Path) -> CorpusPaths:
    paths = CorpusPaths(Path(out_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    # Until the new manifest is written the folder must not look complete.
    paths.manifest.unlink(missing_ok=True)
    return paths


def _pages_with_extras(path: Path, skip_bad: bool, stats: ReadStats) -> Iterator[tuple[Page, dict[str, str]]]:
    def parse(rec: dict[str, Any]) -> tuple[Page, dict[str, str]]:
        extra = {k: rec[k] for k in ("description", "topic") if isinstance(rec.get(k), str)}
        return parse_page(rec), extra

    return iter_records(path, parse, skip_bad=skip_bad, stats=stats)


def _detect_kind(path: Path) -> str:
    """'passages' when the first record has an "id", 'pages' when it has a "url" and no "id"."""
    for raw in iter_records(path, lambda rec: rec, skip_bad=True):
        if "id" in raw:
            return "passages"
        if "url" in raw:
            return "pages"
        raise UserError(f'{path}: first record has neither "id" (passages) nor "url" (pages): keys {sorted(raw)}')
    raise UserError(f"{path}: no records (empty file, or no line is a JSON object)")


def _build_passages_only(path: Path, paths: CorpusPaths, skip_bad: bool, stats: ReadStats) -> int:
    """Normalise a passages file: {"id", "contents", "url"}; duplicate ids are an error."""
    seen: set[bytes] = set()
    n = 0
    with atomic_write(paths.passages) as f:
        for p in tqdm(iter_passages(path, skip_bad=skip_bad, stats=stats), desc="passages", unit="psg", disable=None):
            key = hashlib.blake2b(p.id.encode(), digest_size=8).digest()  # 8 bytes each, not the whole id
            if key in seen:
                raise UserError(f'{path}: line {stats.lines}: duplicate passage id "{p.id}"')
            seen.add(key)
            try:
                url = normalize_url(p.url) if p.url else ""
            except ValueError as e:
                raise UserError(f'{path}: line {stats.lines}: field "url": {e}') from None
            write_json_line(f, {"id": p.id, "contents": p.contents, "url": url})
            n += 1
    for stale in (paths.pages, paths.links):  # from an earlier build of a pages file into this folder
        stale.unlink(missing_ok=True)
    return n


def build_corpus(
    input_path: Path, out_dir: Path, *, words_per_passage: int = 100, skip_bad: bool = False
) -> CorpusPaths:
    """Build a corpus folder from a user's .jsonl(.gz) file of pages or of passages.

    Pages input ({"url", ...}) gives pages + ~N-word passages with stable ids + links; passages
    input ({"id", ...}) is normalised as is (ids kept; no pages or links, as the manifest says).
    """
    input_path = Path(input_path)
    kind = _detect_kind(input_path)
    paths = _start(out_dir)
    stats = ReadStats()
    manifest: dict[str, Any] = {"name": input_path.name.split(".")[0], "source": {"file": str(input_path.resolve())}}
    if kind == "passages":
        n = _build_passages_only(input_path, paths, skip_bad, stats)
        manifest |= {"has_pages": False, "passage_id_scheme": "ids from the input file"}
        manifest["counts"] = {"pages": 0, "passages": n, "links": 0, "skipped_bad_lines": stats.bad}
    else:
        counts = _Counts()
        titles = _write_pages_and_passages(
            _pages_with_extras(input_path, skip_bad, stats), paths, words_per_passage, None, counts
        )
        _write_links(paths, titles, counts)
        manifest |= {"has_pages": True, "passage_id_scheme": ID_SCHEME, "words_per_passage": words_per_passage}
        manifest["counts"] = _count_dict(counts) | {"skipped_bad_lines": stats.bad}
    manifest["builder"] = f"asearcher {__version__}"
    _write_manifest(paths, manifest)
    log.info("built corpus %s: %s", paths.root, manifest["counts"])
    return paths


def _count_dict(c: _Counts) -> dict[str, int]:
    return {
        "pages": c.pages,
        "passages": c.passages,
        "links": c.links,
        "pages_with_links": c.pages_with_links,
        "duplicate_pages": c.duplicate_pages,
    }


def build_default_corpus(
    out_dir: Path | None = None,
    *,
    words_per_passage: int = 100,
    qa_train: int = 2000,
    qa_test: int = 200,
    qa_seed: int = 0,
) -> CorpusPaths:
    """Build the embedded Wikipedia-lead corpus (and its QA sets) into `out_dir` (default: paths.default_corpus_dir())."""
    from asearcher.corpus.qa import write_qa  # qa reads the built pages, so it comes after them

    paths = _start(Path(out_dir) if out_dir else default_corpus_dir())
    articles = wiki_lead.load_articles()
    counts = _Counts()
    pages = ((Page(a.url, a.title, a.text), {"description": a.description, "topic": a.topic}) for a in articles)
    titles = _write_pages_and_passages(pages, paths, words_per_passage, len(articles), counts)
    _write_links(paths, titles, counts)
    n_train, n_test = write_qa(paths, n_train=qa_train, n_test=qa_test, seed=qa_seed)
    manifest = {
        "name": "wiki-lead",
        "source": {"package": wiki_lead.PACKAGE, "version": wiki_lead.source_version(), "file": wiki_lead.DATA_FILE},
        "licence": wiki_lead.LICENCE,
        "has_pages": True,
        "passage_id_scheme": ID_SCHEME,
        "words_per_passage": words_per_passage,
        "counts": _count_dict(counts) | {"qa_train": n_train, "qa_test": n_test},
        "builder": f"asearcher {__version__}",
    }
    _write_manifest(paths, manifest)
    log.info("built the embedded corpus in %s: %s", paths.root, manifest["counts"])
    return paths


def ensure_default_corpus() -> CorpusPaths:
    """The embedded corpus at its default place, built first if it is missing or incomplete."""
    paths = CorpusPaths(default_corpus_dir())
    if paths.is_complete():
        return paths
    log.info("building the embedded Wikipedia corpus in %s (once; a few seconds)", paths.root)
    return build_default_corpus(paths.root)
