"""The W&B sink in W&B's offline mode: a real wandb run written under a temp folder, read back."""

from __future__ import annotations

import math
import time

import pytest

wandb = pytest.importorskip("wandb")

from asearcher.tracking.wandb_sink import WandbConfig, WandbSink  # noqa: E402


def test_offline_run_logs_the_metrics_jsonl_names(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run_dir = tmp_path / "cpu-default-20261205-031200"
    sink = WandbSink(run_dir, WandbConfig(project="asearcher-test", mode="offline"), {"model": "", "seed": 1})
    sink.write(1, {"step": 1, "reward/mean": 0.25, "lag/max": 2.0, "time/train_s": 1.5, "skip": "text",
                   "nan": math.nan, "flag": True})
    sink.write(2, {"reward/mean": 0.5, "lag/max": 1.0, "time/train_s": 1.25})
    run = sink._run
    assert run.name == run_dir.name and run.id == run_dir.name and run.config["seed"] == 1
    sink.close()
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    # The .wandb file is W&B's record log (protobuf records, what `wandb sync` uploads); this wandb has no
    # Python reader for it, so the history items are checked in the raw bytes: protobuf stores the keys
    # and the JSON-encoded values as plain strings.
    # wandb-core (a separate process) may still be writing when finish() returns: wait for the records.
    path = next(offline[0].glob("*.wandb"))
    deadline = time.time() + 60
    while b"1.25" not in (data := path.read_bytes()) and time.time() < deadline:
        time.sleep(0.2)
    for text in (b"reward/mean", b"lag/max", b"time/train_s", b"0.25", b"1.25", b"asearcher-test"):
        assert text in data, text
    assert b"skip" not in data and b'"text"' not in data


def test_missing_wandb_is_a_user_error(tmp_path, monkeypatch):
    import builtins

    from asearcher.errors import UserError

    real = builtins.__import__

    def no_wandb(name, *a, **k):
        if name == "wandb":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(UserError, match="pip install"):
        WandbSink(tmp_path, WandbConfig(mode="offline"))
