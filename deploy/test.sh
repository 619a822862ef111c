#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs the
# whole suite (ctest). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 1200
