#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (tests/fuzz/CMakeLists.txt, into
# BUILD/fuzz) and runs each for a fixed time from its kept corpus
# (tests/fuzz/corpus/NAME: seeds, and every crash found is added there as a
# test case kept forever). New inputs go to a scratch copy, so the repository
# only changes by hand. Fails on the first crash, leak or sanitizer report,
# leaving the input under BUILD/fuzz/artifacts/NAME/.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]   (default 30; GANTRY_FUZZ_SECONDS too)
# BUILD_DIR is the main build (the state target links its lib/libgantry_core.a).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "$1" && pwd)/fuzz"
seconds="${2:-${GANTRY_FUZZ_SECONDS:-30}}"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing (deploy/install-deps.sh installs it)"; exit 1; }
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGANTRY_MAIN_BUILD="$(cd "$1" && pwd)" >"$build.cmake.log" 2>&1 ||
  { tail -40 "$build.cmake.log"; exit 1; }
ninja -C "$build" >"$build.ninja.log" 2>&1 || { tail -40 "$build.ninja.log"; exit 1; }
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for name in spec_proto spec_json csv frame page_token table state; do
  work="$build/corpus/$name"; artifacts="$build/artifacts/$name"
  rm -rf "$work"; mkdir -p "$work" "$artifacts"
  cp "$here/corpus/$name"/* "$work/"
  log="$build/$name.log"
  if ! ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" "$build/${name}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$here/corpus/$name" \
       >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz: $name FAILED; the input is in $artifacts/ (add it to tests/fuzz/corpus/$name/)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $name: $runs executions in ${seconds} s, no crash ($(ls "$work" | wc -l) inputs in the corpus)"
done
