"""malloc_tuning.tune applies glibc's mallopt settings (a real call on this glibc machine)."""

from __future__ import annotations

import platform

import pytest

from asearcher import malloc_tuning


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_tune_is_accepted_by_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert malloc_tuning.tune() is True


def test_environment_settings_win(monkeypatch):
    calls = []

    class FakeLibc:  # records mallopt calls instead of changing this test process's allocator twice
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(malloc_tuning.ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert malloc_tuning.tune() is True
    assert calls == [(malloc_tuning.M_MMAP_THRESHOLD, malloc_tuning.MMAP_THRESHOLD)]
