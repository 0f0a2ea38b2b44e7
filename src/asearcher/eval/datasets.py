"""Benchmark loaders: every supported QA format becomes a list of `QAItem` with gold aliases.

Formats: FlashRAG / Search-R1 JSONL (`question`, `golden_answers`), ASearcher's test data
(`question`, `answer` as a string or list, optional `aug_answer` aliases), Search-R1 parquet
(`reward_model.ground_truth.target`), JSON arrays, `datasets.save_to_disk` folders, GAIA/HLE style
(`Question` / `Final answer`), and this project's corpus and synthesised QA files.
Names such as `hotpotqa` resolve to `<data root>/<name>/test.jsonl` (then `.json`, `.parquet`, `dev.*`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asearcher.api.qa import AUG_ANSWER_KEY, QAItem  # the record moved to api/; still importable from here
from asearcher.errors import UserError

logger = logging.getLogger(__name__)

# Benchmark names the paper reports, with the folder names other toolkits use for them; the
# `*_rand1000` / `Bamboogle` / `frames` / `GAIA` / `xbench-deepsearch` names are the folders of
# ASearcher's released test data (ASearcher-test-data/<name>/test.jsonl), usable as --data names.
KNOWN_DATASETS: dict[str, tuple[str, ...]] = {
    "nq": ("nq", "NQ", "natural_questions", "NQ_rand1000"),
    "triviaqa": ("triviaqa", "TriviaQA", "trivia_qa", "TriviaQA_rand1000"),
    "popqa": ("popqa", "PopQA", "PopQA_rand1000"),
    "hotpotqa": ("hotpotqa", "HotpotQA", "HotpotQA_rand1000"),
    "2wiki": ("2wiki", "2wikimultihopqa", "2WikiMultihopQA", "2WikiMultihopQA_rand1000"),
    "musique": ("musique", "MuSiQue", "Musique_rand1000"),
    "bamboogle": ("bamboogle", "Bamboogle"),
    "frames": ("frames", "Frames"),
    "gaia": ("gaia", "GAIA"),  # the 103 text-only validation questions
    "xbench-deepsearch": ("xbench-deepsearch", "xbench_deepsearch", "xbench"),
    "hle": ("hle", "HLE"),
}
# Every folder name above (any case) -> its benchmark.
ALIASES: dict[str, str] = {folder.lower(): name for name, folders in KNOWN_DATASETS.items() for folder in folders}
_SPLIT_FILES = [f"{split}.{ext}" for split in ("test", "dev", "validation") for ext in ("jsonl", "json", "parquet")]
_QUESTION_KEYS = ("question", "Question", "query", "problem")
_ID_KEYS = ("id", "qid", "_id", "task_id", "question_id")
PARQUET_HINT = "pip install 'asearcher[parquet]' (pyarrow==26.0.1)"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        return _as_list(value.tolist())
    return [str(value)] if str(value).strip() else []


def _golds_of(rec: dict[str, Any]) -> list[str]:
    golds: list[str] = []
    rm = rec.get("reward_model")
    if isinstance(rm, dict) and isinstance(rm.get("ground_truth"), dict):
        golds += _as_list(rm["ground_truth"].get("target"))  # Search-R1 parquet
    for key in ("golden_answers", "answer", "answers", "Final answer", "final_answer"):
        golds += _as_list(rec.get(key))
    return list(dict.fromkeys(golds))


def record_to_item(rec: Any, where: str, source: str, row: int) -> QAItem:
    """Convert one raw record; `where` ("file:line") names it in errors."""
    if not isinstance(rec, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    question = next((rec[k] for k in _QUESTION_KEYS if isinstance(rec.get(k), str) and rec[k].strip()), None)
    if question is None:
        raise UserError(f"{where}: no question: expected a non-empty string field, one of {list(_QUESTION_KEYS)}")
    golds = _golds_of(rec)
    if not golds:
        raise UserError(
            f"{where}: no gold answer: expected 'golden_answers', 'answer', 'answers' or "
            "'reward_model.ground_truth.target' with a non-empty value"
        )
    qid = next((str(rec[k]) for k in _ID_KEYS if rec.get(k) not in (None, "")), f"{source}-{row}")
    used = {*_QUESTION_KEYS, *_ID_KEYS, "golden_answers", "answer", "answers", "Final answer", "final_answer"}
    meta = {k: v for k, v in rec.items() if k not in used and k not in ("aug_answer", "reward_model", "prompt")}
    if rec.get("source") and isinstance(rec["source"], str):
        meta["origin"] = rec["source"]
    # ASearcher's augmented answers are kept apart: its evaluation ignores them and its reward gives
    # them 0.3 of the credit (reward/rewards.py, docs/metrics.md).
    aug = [a for a in _as_list(rec.get("aug_answer")) if a not in golds]
    if aug:
        meta[AUG_ANSWER_KEY] = aug
    return QAItem(id=qid, question=question.strip(), golds=golds, source=source, metadata=meta)


def _iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{n}", json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not valid JSON ({e.msg} at column {e.colno})") from None


def _iter_json(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of records (or {{'data': [...]}}), got {type(data).__name__}")
    for i, rec in enumerate(data):
        yield f"{path}: record {i}", rec


def _iter_parquet(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"{path}: reading parquet needs pyarrow, which is not installed: {PARQUET_HINT}") from None
    for i, rec in enumerate(pq.read_table(path).to_pylist()):
        yield f"{path}: row {i}", rec


def _iter_saved_dataset(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise UserError(
            f"{path}: this is a `datasets.save_to_disk` folder, and reading it needs the `datasets` package, "
            "which is not installed: pip install datasets (or export the split to JSONL)"
        ) from None
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        split = next((s for s in ("test", "dev", "validation") if s in ds), None)
        if split is None:
            raise UserError(f"{path}: no test/dev/validation split among {list(ds)}")
        ds = ds[split]
    for i, rec in enumerate(ds):
        yield f"{path}: row {i}", rec


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    if path.is_dir():
        return _iter_saved_dataset(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _iter_jsonl(path)
    if suffix == ".json":
        return _iter_json(path)
    if suffix == ".parquet":
        return _iter_parquet(path)
    raise UserError(f"{path}: unknown dataset format {suffix!r}: expected .jsonl, .json, .parquet or a folder")


def data_root(explicit: str | Path | None = None) -> Path | None:
    """The benchmark data root: the explicit one, else $ASEARCHER_DATA, else None."""
    root = explicit or os.environ.get("ASEARCHER_DATA")
    return Path(root) if root else None


def _find_in_dir(d: Path) -> Path | None:
    for name in _SPLIT_FILES:
        if (d / name).is_file():
            return d / name
    if (d / "dataset_info.json").is_file() or (d / "dataset_dict.json").is_file():
        return d
    return None


def resolve_dataset(spec: str | Path | None, root: str | Path | None = None) -> Path:
    """The file (or folder) that `spec` names: a path, a known benchmark name, or None for the
    embedded corpus's held-out QA (`qa_test.jsonl`, built on first use)."""
    if spec is None or str(spec) == "default":
        from asearcher.corpus.build import ensure_default_corpus

        return ensure_default_corpus().qa_test
    p = Path(spec)
    if p.is_file():
        return p
    if p.is_dir():
        found = _find_in_dir(p)
        if found is None:
            raise UserError(f"{p}: folder holds none of {_SPLIT_FILES} and is not a saved `datasets` folder")
        return found
    name = ALIASES.get(str(spec).lower())
    if name is None:
        raise UserError(f"--data {spec!r}: no such file or folder, and not a known benchmark ({sorted(KNOWN_DATASETS)}"
                        ", or a folder name of ASearcher's test data such as HotpotQA_rand1000)")
    base = data_root(root)
    if base is None:
        raise UserError(f"--data {spec}: set --data-root or $ASEARCHER_DATA to the folder holding <name>/test.jsonl")
    # The name as given first (HotpotQA_rand1000 means that folder), then the benchmark's other names.
    for folder in dict.fromkeys([str(spec), *KNOWN_DATASETS[name]]):
        if (base / folder).is_dir() and (found := _find_in_dir(base / folder)) is not None:
            return found
        for ext in ("jsonl", "json", "parquet"):
            if (base / f"{folder}.{ext}").is_file():
                return base / f"{folder}.{ext}"
    raise UserError(f"--data {spec}: not found under {base}: looked for {KNOWN_DATASETS[name][0]}/test.jsonl and variants")


def source_name(path: Path) -> str:
    """Dataset name used in reports: the folder for `<name>/test.jsonl`, else the file stem."""
    if path.is_dir():
        return path.name
    if path.stem in ("test", "dev", "validation", "train"):
        return path.parent.name
    return path.stem


def load_qa(spec: str | Path | None, root: str | Path | None = None, limit: int | None = None) -> list[QAItem]:
    """Load a QA dataset (see `resolve_dataset` for `spec`); ids are made unique, `limit` keeps the first N."""
    path = resolve_dataset(spec, root)
    source = source_name(path)
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for row, (where, rec) in enumerate(_records(path)):
        item = record_to_item(rec, where, source, row)
        if item.id in seen:  # some benchmark files repeat ids; results are keyed by id
            seen[item.id] += 1
            item.id = f"{item.id}#{seen[item.id]}"
        else:
            seen[item.id] = 0
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise UserError(f"{path}: no questions in the file")
    logger.info("loaded %d questions from %s", len(items), path)
    return items
