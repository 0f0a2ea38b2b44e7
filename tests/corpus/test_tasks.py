"""Embedded QA tasks by name (corpus/tasks.py), on the real embedded corpus."""

from __future__ import annotations

import json

import pytest

from asearcher.corpus.tasks import embedded_qa_file
from asearcher.errors import UserError


def test_facts_task_splits_are_files_of_disjoint_pages():
    train, test = embedded_qa_file("facts", "train"), embedded_qa_file("facts", "test")
    pages = [{json.loads(line)["url"] for line in open(p)} for p in (train, test)]
    assert pages[0] and pages[1] and pages[0].isdisjoint(pages[1])
    assert embedded_qa_file("default", "test").name == "qa_test.jsonl"


def test_other_specs_are_left_to_the_loaders_and_bad_splits_fail():
    assert embedded_qa_file("hotpotqa", "train") is None
    with pytest.raises(UserError, match="split"):
        embedded_qa_file("facts", "dev")
