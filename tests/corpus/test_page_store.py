"""JsonlPageStore: URL variants resolve to the stored page; text is read on demand."""

import json
import threading

import pytest

from asearcher.api.retriever import PageStore
from asearcher.corpus import CorpusPaths, JsonlPageStore
from asearcher.errors import UserError


def test_lookups_on_the_embedded_corpus(wiki_corpus_dir):
    store = JsonlPageStore(CorpusPaths(wiki_corpus_dir).pages)
    assert isinstance(store, PageStore)
    assert len(store) > 9000
    page = store.get("http://en.m.wikipedia.org/w/index.php?title=Mona_Lisa#History")
    assert page is not None and page.title == "Mona Lisa" and page.url == "https://en.wikipedia.org/wiki/Mona_Lisa"
    assert store.get("https://en.wikipedia.org/wiki/Leonardo da Vinci").title == "Leonardo da Vinci"
    assert store.get("https://en.wikipedia.org/wiki/No_such_page_xyz") is None
    assert store.get("https://example.com/") is None


def test_case_fallback_only_when_unique(tmp_path):
    f = tmp_path / "pages.jsonl"
    rows = [
        {"url": "https://en.wikipedia.org/wiki/Mona_Lisa", "title": "Mona Lisa", "text": "painting"},
        {"url": "https://en.wikipedia.org/wiki/Cat_Stevens", "title": "Cat Stevens", "text": "singer"},
        {"url": "https://en.wikipedia.org/wiki/Cat_stevens", "title": "Cat stevens", "text": "other"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store = JsonlPageStore(f)
    assert store.get("en.wikipedia.org/wiki/mona_lisa").text == "painting"
    assert store.get("https://en.wikipedia.org/wiki/Cat_Stevens").text == "singer"
    assert store.get("https://en.wikipedia.org/wiki/CAT_STEVENS") is None  # ambiguous
    strict = JsonlPageStore(f, case_fallback=False)
    assert strict.get("en.wikipedia.org/wiki/mona_lisa") is None


@pytest.mark.parametrize("case_fallback", [True, False])
def test_a_url_that_cannot_be_parsed_is_not_found(tmp_path, case_fallback):
    f = tmp_path / "pages.jsonl"
    f.write_text(json.dumps({"url": "https://en.wikipedia.org/wiki/Mona_Lisa", "text": "painting"}) + "\n")
    store = JsonlPageStore(f, case_fallback=case_fallback)
    for url in ("http://[::1", "https://en.wikipedia.org[/wiki/Mona_Lisa"):
        assert store.get(url) is None
        assert url not in store


def test_reads_from_disk_not_memory(tmp_path):
    f = tmp_path / "pages.jsonl"
    f.write_text(json.dumps({"url": "https://x.org/a", "contents": "old"}) + "\n", encoding="utf-8")
    store = JsonlPageStore(f)
    # Same length in bytes, new text: the store holds offsets only, so it sees the new bytes.
    f.write_text(json.dumps({"url": "https://x.org/a", "contents": "new"}) + "\n", encoding="utf-8")
    assert store.get("https://x.org/a").text == "new"


def test_threads_share_the_store(wiki_corpus_dir):
    store = JsonlPageStore(CorpusPaths(wiki_corpus_dir).pages)
    urls = store.urls()[:400]
    errors = []

    def work(part):
        for u in part:
            if store.get(u).url != u:
                errors.append(u)

    threads = [threading.Thread(target=work, args=(urls[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="no such pages file"):
        JsonlPageStore(tmp_path / "missing.jsonl")
    with pytest.raises(UserError, match="gunzip"):
        JsonlPageStore(tmp_path / "pages.jsonl.gz")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"url": "https://x.org", "text": "a"}\n{"text": "no url"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.jsonl:2: missing field \"url\""):
        JsonlPageStore(bad)
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text('{"url": "http://[::1", "text": "a"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"malformed.jsonl:1: malformed URL 'http://\[::1'"):
        JsonlPageStore(malformed)
