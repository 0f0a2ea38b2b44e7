"""Link-graph loading: this project's links.jsonl, ASearcher's link JSON, plain JSONL; bad input."""

from __future__ import annotations

import json

import pytest
from synth_fakes import W

from asearcher.errors import UserError
from asearcher.synth.graph import LinkGraph


def test_links_jsonl_of_corpus_build_gives_out_and_in_links(graph):
    # Alpha -> Beta -> Gamma: Beta's neighbours are both; a page with no links is no seed.
    assert graph.neighbours(W + "Beta_River") == [W + "Alpha_Town", W + "Gamma_Hills"]
    assert graph.neighbours(W + "Alpha_Town") == [W + "Beta_River"]
    assert graph.seeds() == [W + "Alpha_Town", W + "Beta_River", W + "Gamma_Hills"]


def test_asearcher_link_json_with_index_php_urls(tmp_path):
    base = "https://en.wikipedia.org/w/index.php?title="
    data = {
        base + "Alpha%20Town": {"links": [base + "Beta%20River"], "in_links": [base + "Delta%20City"]},
        base + "Beta%20River": {"links": [], "in_links": []},
    }
    path = tmp_path / "links.json"
    path.write_text(json.dumps(data))
    g = LinkGraph.load(path)
    assert g.neighbours(W + "Alpha_Town") == [W + "Beta_River", W + "Delta_City"]
    assert g.neighbours(base + "Beta%20River") == [W + "Alpha_Town"]
    # restricted to the pages a store holds
    g2 = LinkGraph.load(path, known={W + "Alpha_Town", W + "Beta_River"})
    assert g2.neighbours(W + "Alpha_Town") == [W + "Beta_River"]


def test_jsonl_with_url_strings(tmp_path):
    path = tmp_path / "links.jsonl"
    path.write_text(json.dumps({"url": W + "A_b", "links": [W + "C_d"], "in_links": [{"url": W + "E_f"}]}) + "\n")
    assert LinkGraph.load(path).neighbours(W + "A_b") == [W + "C_d", W + "E_f"]
    assert LinkGraph.load(path).neighbours("http://[::1") == []  # cannot be parsed: no such page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"url": "x", "links": [3]}\n', "links.jsonl:1: field 'links': a link must be a URL string"),
        ('{"url": "x", "links": []}\nnot json\n', "links.jsonl:2: not valid JSON"),
        ('{"links": []}\n', "links.jsonl:1: expected an object with a non-empty 'url'"),
        ('{"url": "x", "links": ["http://[::1"]}\n', r"links.jsonl:1: malformed URL 'http://\[::1'"),
    ],
)
def test_bad_link_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "links.jsonl"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        LinkGraph.load(path)


def test_missing_link_file(tmp_path):
    with pytest.raises(UserError, match="no such link file"):
        LinkGraph.load(tmp_path / "nope.jsonl")


def test_embedded_corpus_graph(wiki_corpus_dir):
    from asearcher.corpus import CorpusPaths, JsonlPageStore

    paths = CorpusPaths(wiki_corpus_dir)
    store = JsonlPageStore(paths.pages)
    g = LinkGraph.load(paths.links, known=set(store.urls()))
    assert len(g) > 5000  # ~22,000 links over 10,033 pages
    seed = g.seeds()[0]
    assert all(n in store for n in g.neighbours(seed))
    store.close()
