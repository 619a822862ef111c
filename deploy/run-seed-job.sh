#!/usr/bin/env bash
# The README's main-job command. On a fresh Debian 12 machine (as root):
# installs what building and running gantry needs and is missing (no test
# packages: install-deps.sh --main), builds gantryd and gantry (no tests),
# starts gantryd on its default storage, submits the tutorial's seed job,
# shows its progress to the end, prints a few generated points and the path
# of a plot of them over the sine curve, and stops the server it started.
# If gantryd exits or is not serving within GANTRY_START_TIMEOUT seconds
# (60), it prints the server's log and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --main
deploy/build.sh -DGANTRY_BUILD_TESTS=OFF >/dev/null
echo "built build/bin/gantryd and build/bin/gantry"

out="$PWD/build/seed-job"
mkdir -p "$out"
# Something listens on a port when bash's /dev/tcp connects to it.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port="${GANTRY_PORT:-50051}"
if port_in_use "$port"; then
  taken=$port
  for _ in $(seq 100); do
    port=$((49152 + RANDOM % 16384))
    port_in_use "$port" || break
  done
  if port_in_use "$port"; then
    echo "run-seed-job: port $taken is taken and no free port was found" >&2
    exit 1
  fi
  echo "port $taken is taken; using $port"
fi
export GANTRY_SERVER="127.0.0.1:$port"
gantry=build/bin/gantry

build/bin/gantryd --listen "$GANTRY_SERVER" >"$out/gantryd.log" 2>&1 &
server_pid=$!
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT

server_failed() {
  echo "run-seed-job: $1; its log ($out/gantryd.log):" >&2
  cat "$out/gantryd.log" >&2
  exit 1
}
start_deadline=$((SECONDS + ${GANTRY_START_TIMEOUT:-60}))
until "$gantry" --timeout 1 health >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || server_failed "gantryd exited before it was serving"
  ((SECONDS < start_deadline)) ||
    server_failed "gantryd is not serving on $GANTRY_SERVER after ${GANTRY_START_TIMEOUT:-60} s"
  sleep 0.1
done
echo "gantryd is serving on $GANTRY_SERVER (log: $out/gantryd.log)"

id=$("$gantry" submit --name "seed job (first-gan-tutorial)")
echo "submitted the seed job: $id (sine, 1024 points, 300 epochs, seed 111)"
"$gantry" watch "$id"
echo
echo "a few generated points (seed 1):"
"$gantry" sample "$id" --count 8 --seed 1
"$gantry" sample "$id" --count 1000 --seed 1 --out "$out/samples.csv" --plot "$out/samples.png" 2>/dev/null
"$gantry" plot "$id" --out "$out/training.png" >/dev/null
echo
echo "plot of 1000 generated points over the sine curve: $out/samples.png"
echo "losses and quality by epoch:                      $out/training.png"
echo "the points themselves:                            $out/samples.csv"
