"""open_append: a row torn by a killed writer is cut, so appended rows stay readable."""

from __future__ import annotations

import json

from asearcher.tracking.jsonl import open_append


def test_a_torn_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "loss": 0.')  # killed in the middle of row 2
    with open_append(path) as f:
        f.write('{"step": 2, "loss": 0.5}\n')
    assert [json.loads(x) for x in path.read_text().splitlines()] == [{"step": 1}, {"step": 2, "loss": 0.5}]


def test_complete_and_missing_files_are_kept_or_created(tmp_path):
    path = tmp_path / "sub" / "m.jsonl"
    with open_append(path) as f:
        f.write('{"step": 1}\n')
    with open_append(path) as f:
        f.write('{"step": 2}\n')
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    torn_only = tmp_path / "t.jsonl"
    torn_only.write_text('{"st')
    with open_append(torn_only):
        pass
    assert torn_only.read_text() == ""
