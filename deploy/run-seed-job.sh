#!/usr/bin/env bash
# The README's main-job command. On a fresh Debian 12 machine (as root):
# installs what is missing, builds, starts gantryd on its default storage,
# submits the tutorial's seed job, shows its progress to the end, prints a few
# generated points and the path of a plot of them over the sine curve, and
# stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh >/dev/null
echo "built build/bin/gantryd and build/bin/gantry"

out="$PWD/build/seed-job"
mkdir -p "$out"
port="${GANTRY_PORT:-50051}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "port 50051 is taken; using $port"
fi
export GANTRY_SERVER="127.0.0.1:$port"
gantry=build/bin/gantry

build/bin/gantryd --listen "$GANTRY_SERVER" >"$out/gantryd.log" 2>&1 &
server_pid=$!
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT

for _ in $(seq 300); do
  "$gantry" --timeout 1 health >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/gantryd.log"; exit 1; }
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
