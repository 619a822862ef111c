#!/usr/bin/env bash
# Configures and builds gantry into build/ (binaries in build/bin/), with
# Ninja and ccache. Usage: deploy/build.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C build
