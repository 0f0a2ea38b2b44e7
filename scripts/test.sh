#!/usr/bin/env bash
# The test suite as CI runs it (README: "bash scripts/install.sh --dev && bash scripts/test.sh").
#   1. every fast test, with dtype "auto" resolved for this CPU (bf16 where AVX512-BF16/AMX exists);
#   2. the `numerics` tests again with ASEARCHER_DTYPE=float32, as a CPU without native bf16 runs them,
#      so one CI run covers both precisions whichever CPU kind (AMD EPYC, Intel Xeon AMX) it lands on.
# Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
fast="not gpu and not network and not slow"
python -m pytest -m "$fast" "$@"
echo "== numerics again with ASEARCHER_DTYPE=float32"
ASEARCHER_DTYPE=float32 python -m pytest -m "numerics and ($fast)" "$@"
