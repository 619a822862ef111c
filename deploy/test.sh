#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs the
# whole suite (ctest; its labels and what each test checks:
# tests/README.md). Exits non-zero if anything fails. Prints how long the
# build and the tests took.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
deploy/install-deps.sh
deploy/build.sh
built=$SECONDS
echo "test.sh: installed and built in $((built - start)) s"
cd build
status=0
ctest --output-on-failure -j "$(nproc)" --timeout 1200 || status=$?
echo "test.sh: tests ran in $((SECONDS - built)) s; $((SECONDS - start)) s in all"
exit "$status"
