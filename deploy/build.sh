#!/usr/bin/env bash
# Configures and builds gantry into build/ (binaries in build/bin/), with
# Ninja and ccache. Usage: deploy/build.sh [extra cmake args...]
# The tests are built unless the arguments say -DGANTRY_BUILD_TESTS=OFF (as
# run-seed-job.sh does); the option is given every time, so one such build
# does not leave it off for the next.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGANTRY_BUILD_TESTS=ON "$@" >/dev/null
ninja -C build
