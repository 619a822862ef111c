#!/usr/bin/env bash
# The container test: builds deploy/Dockerfile with podman as
# deploy/README.md ("Container") shows, runs it with a volume, and from the
# host's CLI checks health, submits a short seed job, watches it and samples
# it; then restarts the container on the same volume and finds the job and
# its samples still there. Prints the image's size and the cold start to
# SERVING.
#
#   tests/deploy/container_test.sh GANTRY_CLI GANTRYD
#
# The image holds the build under test (GANTRYD and GANTRY_CLI, staged in
# place of the Dockerfile's build stage; GANTRY_CONTAINER_FROM_SOURCE=1
# compiles them in the container instead): tests/deploy/build_image.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
gantry=$(readlink -f "${1:-build/bin/gantry}")
gantryd=$(readlink -f "${2:-$(dirname "$gantry")/gantryd}")
image=${GANTRY_TEST_IMAGE:-localhost/gantry}

if ! command -v podman >/dev/null; then
  echo "SKIP: podman is not installed (deploy/install-deps.sh installs it)"; exit 77
fi

source tests/deploy/base_image.sh  # the Dockerfiles' base image, made once
tests/deploy/build_image.sh "$image" "$gantry" "$gantryd"
size=$(podman image inspect "$image" --format '{{.Size}}')
echo "runtime image size: $((size / 1024 / 1024)) MiB"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
http_port=$(free_port)
name=gantry-test-$$
volume=gantry-test-data-$$
export GANTRY_SERVER=127.0.0.1:$port
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT
podman volume create "$volume" >/dev/null

# podman here has no systemd for its healthcheck timers; drop that noise.
quiet() { "$@" 2> >(grep -v 'systemd connection' >&2); }
run_container() {
  quiet podman --runtime runc run -d --name "$name" --cgroup-manager=cgroupfs \
    --ulimit nproc=4096:4096 --ulimit nofile=4096:4096 \
    -p "127.0.0.1:$port:50051" -p "127.0.0.1:$http_port:8080" -v "$volume:/data" "$image" >/dev/null
}
wait_serving() {
  local t0=$1
  for _ in $(seq 600); do
    if "$gantry" --timeout 1 health >/dev/null 2>&1; then
      echo "cold start to SERVING: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      return 0
    fi
    sleep 0.1
  done
  podman logs "$name" | tail -20
  return 1
}

echo "== run with a volume"
t0=$(date +%s%N)
run_container
wait_serving "$t0"
[ "$("$gantry" health)" = SERVING ]
quiet podman --runtime runc healthcheck run "$name" && echo "the image's HEALTHCHECK (gantry health): healthy"
id=$("$gantry" submit --epochs 20 --name container-seed)
"$gantry" watch "$id" >/tmp/gantry-container-watch.txt
tail -2 /tmp/gantry-container-watch.txt
[ "$(tail -1 /tmp/gantry-container-watch.txt)" = "state SUCCEEDED" ]
"$gantry" sample "$id" --count 50 --seed 3 >/tmp/gantry-container-sample-1.csv
[ "$(wc -l </tmp/gantry-container-sample-1.csv)" -eq 51 ]
user=$(podman exec "$name" id -un)
echo "runs as $user (uid $(podman exec "$name" id -u)); /data holds: $(podman exec "$name" ls /data | tr '\n' ' ')"
[ "$user" = gantry ]
# The image serves HTTP on 8080: /healthz, the JSON API, the dashboard.
/usr/bin/python3 - "$http_port" "$id" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
assert urllib.request.urlopen(base + "/healthz", timeout=10).read() == b"SERVING\n"
job = json.load(urllib.request.urlopen(f"{base}/v1/jobs/{sys.argv[2]}", timeout=10))
assert job["state"] == "JOB_STATE_SUCCEEDED", job["state"]
assert b"/static/chart.min.js" in urllib.request.urlopen(base + "/", timeout=10).read()
print("HTTP on 8080: /healthz SERVING, the job over JSON, the dashboard")
PY

echo "== restart on the same volume"
quiet podman stop -t 30 "$name" >/dev/null
quiet podman rm "$name" >/dev/null
t0=$(date +%s%N)
run_container
wait_serving "$t0"
"$gantry" get "$id" | grep -E '^(state|epochs):'
"$gantry" get "$id" | grep -q 'SUCCEEDED'
"$gantry" sample "$id" --count 50 --seed 3 >/tmp/gantry-container-sample-2.csv
cmp /tmp/gantry-container-sample-1.csv /tmp/gantry-container-sample-2.csv
echo "the job and its samples survived the restart"
echo "container test: 1 passed, 0 failed"
