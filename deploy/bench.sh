#!/usr/bin/env bash
# Installs what is missing, builds, and runs the seed-job benchmark: gantry's
# core against the tutorial's PyTorch program, in one invocation.
# Usage: deploy/bench.sh [--epochs N] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh
exec build/bin/seed_bench "$@"
