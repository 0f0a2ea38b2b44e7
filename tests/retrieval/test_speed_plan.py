"""The query speed plan: which settings are timed, how the fastest is chosen, and that it is applied."""

from __future__ import annotations

import numpy as np
import pytest

from asearcher import hardware
from asearcher.retrieval import DenseConfig
from asearcher.retrieval import speed_plan
from asearcher.retrieval.embedder import Embedder
from asearcher.retrieval.speed_plan import Setting


def test_candidates_leave_open_only_what_the_config_leaves_open(monkeypatch):
    monkeypatch.setattr(speed_plan, "usable_cores", lambda: 4)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert speed_plan.candidates("auto", 0, "cpu") == [
        Setting("float32", 1), Setting("float32", 4), Setting("bfloat16", 1), Setting("bfloat16", 4)]
    assert speed_plan.candidates("float32", 2, "cpu") == [Setting("float32", 2)]
    assert speed_plan.candidates("auto", 1, "cpu") == [Setting("float32", 1), Setting("bfloat16", 1)]
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset())  # no native bf16: fp32 only
    assert speed_plan.candidates("auto", 0, "cpu") == [Setting("float32", 1), Setting("float32", 4)]
    monkeypatch.setattr(speed_plan, "usable_cores", lambda: 1)
    assert speed_plan.candidates("auto", 0, "cpu") == [Setting("float32", 0)]


def test_plan_takes_the_best_time_per_bucket_and_skips_timing_a_single_choice():
    calls = []

    def fake_encode(s: Setting, n: int) -> None:  # deterministic stand-in for timing: records calls only
        calls.append((s, n))

    only = Setting("float32", 1)
    assert speed_plan.make_plan([only], fake_encode) == {"small": only, "large": only} and not calls
    # Hand-made timings, as on the Intel AMX machine: fp32 wins one-query batches, bf16 larger ones.
    f, b = Setting("float32", 1), Setting("bfloat16", 1)
    timings = {("small", f): [0.013, 0.011], ("small", b): [0.018, 0.020], ("large", f): [0.09], ("large", b): [0.05]}
    assert speed_plan.choose(timings) == {"small": f, "large": b}
    assert [speed_plan.bucket(n) for n in (1, 4, 5, 32)] == ["small", "small", "large", "large"]


def test_measure_times_every_setting_and_probe_after_a_warm_up():
    seen = []
    settings = [Setting("float32", 1), Setting("bfloat16", 1)]
    timings = speed_plan.measure(settings, lambda s, n: seen.append((s, n)))
    assert set(timings) == {(b, s) for b in speed_plan.PROBES for s in settings}
    assert all(len(v) == speed_plan._ROUNDS for v in timings.values())
    assert len(seen) == len(settings) * len(speed_plan.PROBES) * (1 + speed_plan._ROUNDS)


def test_queries_follow_the_plan(monkeypatch):
    e = Embedder(DenseConfig(dtype="float32", threads=1))
    assert e.plan == {"small": Setting("float32", 1), "large": Setting("float32", 1)}
    qs = ["who discovered penicillin", "tallest mountain"]
    fp32 = e.encode_queries(qs)
    e._plan = {"small": Setting("bfloat16", 1), "large": Setting("float32", 1)}
    used = []
    real = e._encode
    monkeypatch.setattr(e, "_encode", lambda texts, dtype=None: used.append(dtype) or real(texts, dtype))
    bf16 = e.encode_queries(qs)
    e.encode_queries(qs * 3)
    assert used == ["bfloat16", "float32"]
    assert not np.array_equal(bf16, fp32) and (bf16 * fp32).sum(1).min() > 0.999
    assert pytest.approx(np.linalg.norm(bf16, axis=1), abs=1e-4) == [1.0, 1.0]
