"""Per-step metrics of how stale the trained tokens are (version lag = trainer version - token version)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

logger = logging.getLogger(__name__)


def version_lag_stats(versions: torch.Tensor | Iterable[torch.Tensor], loss_mask: torch.Tensor | Iterable[torch.Tensor],
                      current_version: int, max_staleness: int | None = None) -> dict[str, float]:
    """Lag statistics over loss-mask tokens; `versions`/`loss_mask` may be one tensor or one per micro-batch.

    Returns {"lag_max", "lag_mean", "lag_min", "n_tokens", "lag_hist/<k>": fraction of tokens with lag k,
    and "too_stale_frac" when `max_staleness` is given}. Example: versions [3, 4, 4], current 5 ->
    lag_max 2, lag_mean 4/3, lag_hist/1 2/3, lag_hist/2 1/3.
    """
    if isinstance(versions, torch.Tensor):
        versions, loss_mask = [versions], [loss_mask]
    lags = torch.cat([current_version - v[m.bool()].long() for v, m in zip(versions, loss_mask, strict=True)])
    if lags.numel() == 0:
        return {"n_tokens": 0.0}
    if (lags < 0).any():
        # a token from a version the trainer has not produced yet means the versions are mislabelled
        raise ValueError(f"token version ahead of the trainer (version {current_version}): lag {int(lags.min())}")
    n = lags.numel()
    stats = {"n_tokens": float(n), "lag_max": float(lags.max()), "lag_min": float(lags.min()),
             "lag_mean": float(lags.float().mean())}
    values, counts = torch.unique(lags, return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        stats[f"lag_hist/{v}"] = c / n
    if max_staleness is not None:
        stats["too_stale_frac"] = float((lags > max_staleness).float().mean())
    return stats
