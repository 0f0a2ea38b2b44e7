"""`QAItem`: one question with its gold answers, the record that QA files, benchmarks, training data
and evaluation all pass around (loaders live in eval/datasets.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# QAItem.metadata key of ASearcher's augmented answers (`aug_answer`): kept apart from the golds, since
# its evaluation ignores them and its reward gives them partial credit (docs/metrics.md).
AUG_ANSWER_KEY = "aug_answer"


@dataclass(slots=True)
class QAItem:
    """One benchmark question.

    Attributes:
        id: question id, unique within its dataset (the row number when the file has none).
        question: the question text.
        golds: gold answer aliases, at least one, in file order, without duplicates.
        source: dataset name (folder or file stem), used to group metrics.
        metadata: remaining fields of the record (level, type, supporting facts, ...); augmented
            answers under AUG_ANSWER_KEY.
    """

    id: str
    question: str
    golds: list[str]
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
