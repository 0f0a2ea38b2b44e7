"""benchmarks/torchrun_rss.py on a tiny model: both ranks report, their shards add up to the model (on
either path) and the memory samples are taken."""

from __future__ import annotations

import pytest
from bench_loader import BENCHMARKS, load_benchmark  # this folder is on sys.path (no __init__.py)

from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)


@pytest.mark.slow
def test_two_rank_starts_are_measured(tmp_path):
    bench = load_benchmark("torchrun_rss")
    folder = tiny_hf_folder(tmp_path / "tiny", tie_word_embeddings=True)
    # tiny_hf's Llama: embeddings 259 x 64 (lm_head tied: no more); per layer q, o 64 x 64, k, v 64 x 32
    # (2 KV heads of 16), gate, up, down 64 x 128, two norms of 64; the final norm 64
    n_params = 259 * 64 + 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128 + 2 * 64) + 64
    src = BENCHMARKS.parent / "src"
    rows = {mode: bench.run(folder, mode, 2, src) for mode in ("full", "meta")}
    for mode, row in rows.items():
        assert [r["rank"] for r in row["per_rank"]] == [0, 1]
        # FSDP2's shards of the tied model: every parameter once, split over the ranks
        assert sum(r["local_params"] for r in row["per_rank"]) == n_params, mode
        assert all(r["peak_rss_mib"] >= r["rss_built_mib"] > 100 for r in row["per_rank"]), mode
        assert row["sampled_peak_pss_mib"] > 100 and row["sampled_peak_anon_mib"] > 100, mode
    assert "| tiny | meta | 2 |" in bench.table(list(rows.values()))
