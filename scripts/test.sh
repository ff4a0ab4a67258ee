#!/usr/bin/env bash
# The test command: installs dependencies, builds with warnings as errors and
# runs every test through ctest. Usage: scripts/test.sh [preset] [ctest args...]
#   scripts/test.sh            # preset "ci"
#   scripts/test.sh asan       # AddressSanitizer + UBSan build
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-ci}"
shift || true
scripts/deps.sh
scripts/build.sh "$preset"
ctest --preset "$preset" --timeout 300 -j2 "$@"
