"""benchmarks/async_vs_sync.py on a tiny workload: both etas train the same samples, the timing
fractions are consistent, and bad arguments are refused with a message."""

from __future__ import annotations

import json

import pytest

from bench_loader import load_benchmark  # this folder is on sys.path (no __init__.py)


def load_bench():
    return load_benchmark("async_vs_sync")


def test_tiny_run_reports_both_etas(tmp_path):
    bench = load_bench()
    out = tmp_path / "avs"
    results = bench.main(["--steps", "3", "--etas", "0", "2", "--hidden", "32", "--layers", "1", "--max-concurrent", "16",
                          "--tool-latency-s", "0.01", "--tokens-per-turn", "2", "--long-turns", "4", "--long-frac", "0.3",
                          "--train-questions", "16", "--eval-questions", "4", "--engine-dtype", "float32",
                          "--out", str(out), "--json", str(tmp_path / "r.json")])
    assert [r["eta"] for r in results] == [0, 2]
    for r in results:
        assert r["steps"] == 3 and r["trained_samples"] == 3 * 16
        assert 0.0 <= r["wait_frac"] <= 1.0 and 0.0 <= r["sync_frac"] <= 1.0
        # wait, train and sync make up each step's interval (up to the few statements between them)
        assert r["wait_frac"] + r["train_frac"] + r["sync_frac"] == pytest.approx(1.0, abs=1e-3)
        assert r["lag_max"] <= r["eta"]
        assert 0.0 < r["engine_busy_frac"] <= 1.0
    assert results[0]["engine_reprefill_tokens"] == 0  # eta = 0: nothing is in flight at a weight update
    saved = json.loads((tmp_path / "r.json").read_text())
    assert [r["eta"] for r in saved["results"]] == [0, 2]


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "must be > 0"),
    (["--long-frac", "1.5"], "--long-frac"),
    (["--max-concurrent", "2", "--group-size", "4"], "--max-concurrent"),
    (["--engine-dtype", "float16"], "invalid choice"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        load_bench().parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
