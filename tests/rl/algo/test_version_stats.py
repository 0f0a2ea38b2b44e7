"""Version-lag metrics against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from asearcher.rl.algo.version_stats import version_lag_stats


def test_docstring_example_and_mask():
    v = torch.tensor([-1, 3, 4, 4, 0])
    m = torch.tensor([0, 1, 1, 1, 0])
    s = version_lag_stats(v, m, current_version=5, max_staleness=1)
    assert s["lag_max"] == 2 and s["lag_min"] == 1 and s["n_tokens"] == 3
    assert s["lag_mean"] == pytest.approx(4 / 3)
    assert s["lag_hist/1"] == pytest.approx(2 / 3) and s["lag_hist/2"] == pytest.approx(1 / 3)
    assert "lag_hist/5" not in s  # the masked version-0 token does not count
    assert s["too_stale_frac"] == pytest.approx(1 / 3)


def test_several_micro_batches():
    s = version_lag_stats([torch.tensor([2, 2]), torch.tensor([0])], [torch.tensor([1, 1]), torch.tensor([1])], 2)
    assert s["lag_max"] == 2 and s["lag_hist/0"] == pytest.approx(2 / 3)


def test_future_version_raises_and_empty():
    with pytest.raises(ValueError, match="ahead"):
        version_lag_stats(torch.tensor([6]), torch.tensor([1]), current_version=5)
    assert version_lag_stats(torch.tensor([1]), torch.tensor([0]), 3) == {"n_tokens": 0.0}
