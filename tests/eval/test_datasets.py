"""Loaders: each fixture format, name resolution under a data root, and clear errors on bad lines."""

import builtins
from pathlib import Path

import pytest

from asearcher.errors import UserError
from asearcher.eval.datasets import load_qa, resolve_dataset

FIX = Path(__file__).parents[1] / "fixtures" / "eval"


def test_flashrag_jsonl_skips_blank_lines():
    items = load_qa(FIX / "flashrag.jsonl")
    assert [i.id for i in items] == ["test_0", "test_1", "test_2"]
    assert items[0].golds == ["George Orwell", "Eric Arthur Blair"]
    assert items[2].golds == ["6", "six"] and items[0].source == "flashrag"


def test_asearcher_fields_answer_str_list_number_and_aug_answer():
    items = load_qa(FIX / "asearcher.jsonl")
    # aug_answer is kept apart (ASearcher's eval ignores it; its reward gives it 0.3 of the credit)
    assert items[0].golds == ["Danube"]
    assert items[0].metadata["aug_answer"] == ["Donau", "the Danube River"]
    assert items[1].golds == ["1969"]
    assert items[2].golds == ["100"]


def test_gaia_style_json_array():
    items = load_qa(FIX / "gaia.json")
    assert [(i.id, i.golds) for i in items] == [("g-001", ["Au"]), ("g-002", ["Leonardo da Vinci"])]
    assert items[0].metadata["Level"] == 1


def test_corpus_qa_file():
    items = load_qa(FIX / "corpus_qa.jsonl")
    assert items[1].golds == ["Portuguese", "Portuguese language"]  # deduplicated with `answer`
    assert items[1].metadata["origin"] == "wiki-lead"


def test_searchr1_parquet():
    pytest.importorskip("pyarrow")
    items = load_qa(FIX / "searchr1.parquet")
    assert items[0].golds == ["Alexander Fleming", "Fleming"]
    assert items[1].question == "what is the largest planet"


def test_parquet_without_pyarrow_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_pyarrow(name, *a, **k):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(UserError, match=r"searchr1\.parquet.*asearcher\[parquet\]"):
        load_qa(FIX / "searchr1.parquet")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("malformed_json.jsonl", r"malformed_json\.jsonl:2: not valid JSON"),
        ("missing_gold.jsonl", r"missing_gold\.jsonl:2: no gold answer"),
        ("missing_question.jsonl", r"missing_question\.jsonl:1: no question"),
    ],
)
def test_malformed_lines_name_file_and_line(name, match):
    with pytest.raises(UserError, match=match):
        load_qa(FIX / name)


def test_known_names_resolve_under_data_root(monkeypatch):
    root = FIX / "root"
    assert resolve_dataset("nq", root) == root / "nq" / "test.jsonl"
    assert resolve_dataset("2wiki", root) == root / "2wikimultihopqa" / "test.jsonl"
    hotpot = load_qa("hotpotqa", root)  # dev split when there is no test file
    assert hotpot[0].id == "h1" and hotpot[0].golds == ["yes"] and hotpot[0].source == "hotpotqa"
    monkeypatch.setenv("ASEARCHER_DATA", str(root))
    assert len(load_qa("nq", limit=2)) == 2
    with pytest.raises(UserError, match="musique"):
        load_qa("musique")


def test_unknown_spec_and_missing_root(monkeypatch):
    monkeypatch.delenv("ASEARCHER_DATA", raising=False)
    with pytest.raises(UserError, match="not a known benchmark"):
        load_qa("no-such-thing")
    with pytest.raises(UserError, match="ASEARCHER_DATA"):
        load_qa("bamboogle")


def test_duplicate_ids_made_unique(tmp_path):
    p = tmp_path / "dup.jsonl"
    p.write_text('{"id": "x", "question": "a?", "answer": "a"}\n{"id": "x", "question": "b?", "answer": "b"}\n')
    assert [i.id for i in load_qa(p)] == ["x", "x#1"]
