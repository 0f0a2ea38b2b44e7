"""MetricsSink: one JSON line per step, NaN dropped, the same row forwarded to extra sinks (W&B)."""

from __future__ import annotations

import math

import pytest

from asearcher.rl.config import TrainConfig
from asearcher.rl.run.metrics import MetricsSink, read_metrics
from asearcher.rl.run.train_loop import TrainLoop


class Recorder:
    def __init__(self):
        self.rows, self.closed = [], False

    def write(self, step, metrics):
        self.rows.append((step, dict(metrics)))

    def close(self):
        self.closed = True


def test_rows_reach_the_file_and_every_extra_sink(tmp_path):
    rec = Recorder()
    sink = MetricsSink(tmp_path / "metrics.jsonl", extra=[rec])
    sink.write(1, {"reward/mean": 0.5, "loss/loss": math.nan})
    sink.write(2, {"reward/mean": 0.75})
    sink.close()
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "reward/mean": 0.5},
                                                         {"step": 2, "reward/mean": 0.75}]
    assert rec.rows == [(1, {"step": 1, "reward/mean": 0.5}), (2, {"step": 2, "reward/mean": 0.75})]
    assert rec.closed


def test_wandb_true_adds_the_wandb_sink(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    c = TrainConfig(wandb=True)
    c.wandb_config.mode, c.wandb_config.project = "offline", "t"
    loop = TrainLoop.__new__(TrainLoop)  # only _extra_sinks is exercised: no model needed
    loop.config, loop.run_dir = c, tmp_path
    sinks = loop._extra_sinks()
    assert [type(s).__name__ for s in sinks] == ["WandbSink"]
    sinks[0].close()
    loop.config = TrainConfig()
    assert loop._extra_sinks() == []
