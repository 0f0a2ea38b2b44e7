"""Weighted fusion arithmetic (hand-computed), the tuning rule, and tuned weights round-tripping through hybrid.json."""

from __future__ import annotations

import json
import shutil

import pytest
from tiny_corpus import EASY, TINY

from asearcher.api.documents import Hit, Passage
from asearcher.config import to_dict
from asearcher.errors import UserError
from asearcher.retrieval import HybridConfig, load_index
from asearcher.retrieval.devset import DevQuestion, read_devset, recall_at
from asearcher.retrieval.fusion import fuse, minmax_fuse, weighted_rrf
from asearcher.retrieval.tune import choose_fusion, tune_index


def _hits(ids: str, scores: list[float] | None = None) -> list[Hit]:
    scores = scores or [0.0] * len(ids)
    return [Hit(Passage(i, "", "", f"u/{i}"), s) for i, s in zip(ids, scores, strict=True)]


def _ids(hits: list[Hit]) -> str:
    return "".join(h.passage.id for h in hits)


def test_weighted_rrf_matches_hand_computation():
    # k=1, weights 0.5 (A: a b c) and 2 (B: c d a).
    # a: 0.5/2 + 2/4 = 0.75; b: 0.5/3 = 0.1667; c: 0.5/4 + 2/2 = 1.125; d: 2/3 = 0.6667.
    fused = weighted_rrf([_hits("abc"), _hits("cda")], [0.5, 2.0], k=1, topk=4)
    assert _ids(fused) == "cadb"
    assert [round(h.score, 4) for h in fused] == [1.125, 0.75, 0.6667, 0.1667]


def test_zero_weight_gives_the_other_list_exactly():
    a, b = _hits("abcde"), _hits("edxyz")
    assert _ids(weighted_rrf([a, b], [0.0, 1.0], k=60, topk=5)) == "edxyz"
    assert _ids(weighted_rrf([a, b], [1.0, 0.0], k=60, topk=5)) == "abcde"
    assert _ids(minmax_fuse([_hits("ab", [3, 1]), _hits("ba", [0.9, 0.2])], [0.0, 1.0], topk=2)) == "ba"


def test_minmax_fusion_matches_hand_computation():
    # BM25 a=10 b=6 c=2 -> normalised 1, .5, 0; dense c=.9 d=.5 -> 1, 0. Weights .4 / .6:
    # a=.4, b=.2, c=0+.6=.6, d=0.
    fused = minmax_fuse([_hits("abc", [10, 6, 2]), _hits("cd", [0.9, 0.5])], [0.4, 0.6], topk=4)
    assert _ids(fused) == "cabd"
    assert [round(h.score, 4) for h in fused] == [0.6, 0.4, 0.2, 0.0]
    with pytest.raises(ValueError):
        fuse([_hits("a")], "max", [1.0], 60, 1)


def test_recall_counts_the_evidence_page_by_url_then_title():
    dev = [DevQuestion("q1", url="u/b"), DevQuestion("q2", title="T")]
    lists = [_hits("ab"), [Hit(Passage("x", "T", ""), 1.0)]]
    assert recall_at(dev, lists, (1, 2)) == {1: 0.5, 2: 1.0}


def test_choose_fusion_prefers_a_setting_that_beats_both_halves():
    # q1: BM25 has its page first, dense second. q2, q3: dense has the page first, BM25 second.
    # BM25: R@1 1/3, R@2 1; dense: R@1 2/3, R@2 1. Equal-weight RRF (k=60) ties x/c in q2 and y/d in
    # q3 (1/61 + 1/62 each) and first-seen order (BM25's list) puts the wrong page first: R@1 1/3.
    # BM25 weight 0.7: q1 a = .7/61 + 1/62 > c = 1/61; q2 c = .7/62 + 1/61 > x = .7/61 + 1/62 (same
    # for q3): R@1 = 1, the best possible, and the first such setting of the grid.
    dev = [DevQuestion("q1", url="u/a"), DevQuestion("q2", url="u/c"), DevQuestion("q3", url="u/d")]
    lexical = [_hits("ab"), _hits("xc"), _hits("yd")]
    semantic = [_hits("ca"), _hits("cx"), _hits("dy")]
    chosen, report = choose_fusion(dev, lexical, semantic, HybridConfig(), ks=(1, 2))
    rec = report["recall"]
    assert rec["bm25"] == {1: pytest.approx(1 / 3), 2: 1.0}
    assert rec["dense"] == {1: pytest.approx(2 / 3), 2: 1.0}
    assert rec["hybrid_before"] == {1: pytest.approx(1 / 3), 2: 1.0}
    assert rec["hybrid"] == {1: 1.0, 2: 1.0}
    assert report["dominates_parts"]
    assert (chosen.method, chosen.rrf_k, chosen.bm25_weight, chosen.dense_weight) == ("rrf", 60, 0.7, 1.0)


def test_choose_fusion_falls_back_to_the_better_half():
    # Dense finds every page first, BM25 none: only settings where BM25 cannot displace dense's
    # first hit match dense at R@1; dense alone (bm25 weight 0) is in the grid, so dominance holds.
    dev = [DevQuestion("q1", url="u/a"), DevQuestion("q2", url="u/c")]
    lexical = [_hits("xy"), _hits("zw")]
    semantic = [_hits("ax"), _hits("cz")]
    chosen, report = choose_fusion(dev, lexical, semantic, HybridConfig(), ks=(1,))
    assert report["dominates_parts"] and report["recall"]["hybrid"] == {1: 1.0}
    assert chosen.bm25_weight < chosen.dense_weight


def test_tuned_weights_round_trip_through_the_index_folder(tiny_dense_dir, tmp_path):
    index = tmp_path / "hybrid"
    shutil.copytree(tiny_dense_dir, index)
    dev_path = tmp_path / "dev.jsonl"
    titles = {p.id: p.title for p in TINY}
    dev_path.write_text("".join(json.dumps({"question": q, "title": titles[want]}) + "\n" for q, want in EASY))
    retriever = load_index(index)
    report = tune_index(index, retriever, read_devset(dev_path), str(dev_path))
    saved = json.loads((index / "hybrid.json").read_text())
    assert saved["config"] == report["config"] == to_dict(retriever.config)
    assert saved["tuning"]["questions"] == len(EASY) and saved["tuning"]["dev"] == str(dev_path)
    reloaded = load_index(index)
    assert to_dict(reloaded.config) == report["config"]
    # A distinctive stored setting survives a save/load of the index as well.
    reloaded.config = HybridConfig(method="score", bm25_weight=0.3, dense_weight=0.7, candidates=7)
    reloaded.save(index)
    assert load_index(index).config == HybridConfig(method="score", bm25_weight=0.3, dense_weight=0.7, candidates=7)


def test_bad_weights_and_dev_files_are_user_errors(tmp_path):
    from asearcher.config import from_dict

    with pytest.raises(UserError, match="bm25_weight"):
        from_dict(HybridConfig, {"bm25_weight": 0, "dense_weight": 0}, "hybrid")
    bad = tmp_path / "dev.jsonl"
    bad.write_text('{"question": "q", "url": "u"}\n{"question": "no page"}\n')
    with pytest.raises(UserError, match=r"dev.jsonl:2"):
        read_devset(bad)


def test_cli_tune_writes_and_dry_run_does_not(tiny_dense_dir, tmp_path, capsys):
    from asearcher.cli import main

    index = tmp_path / "hybrid"
    shutil.copytree(tiny_dense_dir, index)
    titles = {p.id: p.title for p in TINY}
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"question": q, "title": titles[w]}) + "\n" for q, w in EASY))
    before = (index / "hybrid.json").read_text()
    assert main(["index", "tune", "--index", str(index), "--dev", str(dev), "--dry-run"]) == 0
    assert (index / "hybrid.json").read_text() == before
    assert main(["index", "tune", "--index", str(index), "--dev", str(dev)]) == 0
    out = capsys.readouterr().out
    assert "| bm25 |" in out and "| dense |" in out and "stored in" in out
    assert "tuning" in json.loads((index / "hybrid.json").read_text())
    assert main(["index", "recall", "--index", str(index), "--dev", str(dev)]) == 0
    assert "| hybrid | 1.000 | 1.000 | 1.000 |" in capsys.readouterr().out
