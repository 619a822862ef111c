#!/usr/bin/env bash
# The compose test: deploy/compose.yaml's replicas profile with Debian's
# podman-compose. Brings up PostgreSQL (deploy/postgres.Dockerfile) and three
# gantryd replicas sharing it (--store from GANTRY_STORE), submits a seed job
# through replica 1, watches it through replica 2, samples it through
# replica 3 (and replica 1: the same points), then tears everything down,
# volumes included, and checks nothing of the project is left.
#
#   tests/deploy/compose_test.sh GANTRY_CLI
#
# Reuses the gantry image that tests/deploy/container_test.sh builds
# (GANTRY_TEST_IMAGE, default localhost/gantry), building it the same way
# (tests/deploy/build_image.sh, from GANTRY_CLI's gantryd) if it is missing.
#
# podman-compose 1.0.3 (Debian 12) on these machines, and what this does
# about it:
# - podman needs runc, cgroupfs and explicit ulimits here (deploy/README.md,
#   "Compose and Kubernetes"), and podman-compose 1.0.3 has no x-podman settings: a
#   containers.conf passed in CONTAINERS_CONF sets them for every podman call;
# - it ignores depends_on's condition: service_healthy (and profiles), and a
#   replica whose --store is unreachable at its start exits: PostgreSQL is
#   brought up first and waited for (its HEALTHCHECK, pg_isready), then the
#   replicas, named on the command line;
# - it builds with podman build's default isolation, which cannot start here:
#   the images are built first as container_test.sh does, and up --no-build;
# - its down -v removes containers and volumes but not the project's
#   network: removed here;
# - ${VAR:-} (an empty default) is left as written: compose.yaml uses ${VAR}.
set -euo pipefail
cd "$(dirname "$0")/../.."
gantry=$(readlink -f "${1:-build/bin/gantry}")
image=${GANTRY_TEST_IMAGE:-localhost/gantry}
pg_image=${GANTRY_TEST_POSTGRES_IMAGE:-localhost/gantry-postgres}

if ! command -v podman >/dev/null; then
  echo "SKIP: podman is not installed (deploy/install-deps.sh installs it)"; exit 77
fi
if ! command -v podman-compose >/dev/null; then
  echo "SKIP: podman-compose is not installed (deploy/install-deps.sh installs it)"; exit 77
fi
echo "== $(podman-compose version 2>&1 | grep -m1 "podman-composer* version" || echo "podman-compose (version unknown)")"

work=$(mktemp -d)
export CONTAINERS_CONF=$work/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nproc=4096:4096", "nofile=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF

build() {  # IMAGE DOCKERFILE
  local log=$work/build-$(basename "$2").log
  podman build --format docker --isolation chroot --pull=never -t "$1" -f "$2" . >"$log" 2>&1 \
    || { tail -40 "$log"; exit 1; }
}
source tests/deploy/base_image.sh  # the Dockerfiles' base image, made once
if ! podman image exists "$image"; then
  tests/deploy/build_image.sh "$image" "$gantry" "$(dirname "$gantry")/gantryd"
fi
echo "== podman build $pg_image"
start=$(date +%s)
build "$pg_image" deploy/postgres.Dockerfile
echo "built $pg_image in $(( $(date +%s) - start )) s," \
     "$(( $(podman image inspect "$pg_image" --format '{{.Size}}') / 1024 / 1024 )) MiB"

# A free port below the kernel's ephemeral range (32768 and up), so that no
# other test's connection or port-0 bind takes it between here and podman's
# bind minutes later (that happened: "bind: address already in use").
free_port() { /usr/bin/python3 -c '
import random, socket
for _ in range(1000):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
'; }
proj=gantry-compose-test-$$
export GANTRY_IMAGE=$image GANTRY_POSTGRES_IMAGE=$pg_image GANTRY_PUBLISH_ADDR=127.0.0.1
GANTRY_PG_PASSWORD=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(16))')
export GANTRY_PG_PASSWORD
for i in 1 2 3; do
  export "GANTRY_REPLICA${i}_GRPC=$(free_port)" "GANTRY_REPLICA${i}_HTTP=$(free_port)"
done
grpc() { local v="GANTRY_REPLICA${1}_GRPC"; echo "127.0.0.1:${!v}"; }
compose() { podman-compose -f deploy/compose.yaml -p "$proj" "$@" >>"$work/compose.log" 2>&1; }
# podman here has no systemd for its healthcheck timers; drop that noise.
quiet() { "$@" 2> >(grep -v 'systemd connection' >&2); }

teardown() {
  compose down -v -t 30 || true
  podman network rm -f "${proj}_default" >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$?
  if ((rc)); then
    echo "== failed: the last of podman-compose's output and the containers' logs"
    tail -20 "$work/compose.log" || true
    for c in $(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$proj"); do
      echo "-- $c"; podman logs "$c" 2>&1 | tail -15
    done
  fi
  teardown
  rm -rf "$work"
}
trap cleanup EXIT

healthy() { quiet podman --runtime runc healthcheck run "$1" >/dev/null; }
wait_healthy() {  # CONTAINER SECONDS
  for _ in $(seq $(($2 * 5))); do
    if healthy "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$1 is not healthy after $2 s"; return 1
}

echo "== podman-compose up: postgres"
t0=$(date +%s%N)
compose up -d --no-build postgres
wait_healthy "${proj}_postgres_1" 120
echo "postgres healthy (pg_isready) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

echo "== podman-compose up: gantryd-1 gantryd-2 gantryd-3 (--store postgresql://gantry:***@postgres:5432/gantry)"
t0=$(date +%s%N)
compose up -d --no-build gantryd-1 gantryd-2 gantryd-3
for i in 1 2 3; do
  ok=0
  for _ in $(seq 600); do
    if "$gantry" --server "$(grpc $i)" --timeout 1 health >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  ((ok)) || { echo "replica $i is not SERVING"; exit 1; }
  echo "replica $i ($(grpc $i)): $("$gantry" --server "$(grpc $i)" health)" \
       "$(( ($(date +%s%N) - t0) / 1000000 )) ms after up"
done
for i in 1 2 3; do
  healthy "${proj}_gantryd-${i}_1"
done
echo "the replicas' HEALTHCHECK (gantry health): 3 healthy"
store=$(podman exec "${proj}_gantryd-2_1" sh -c 'echo "$GANTRY_STORE"' | sed 's/:[^:@]*@/:***@/')
echo "replica 2's store: $store"
[[ "$store" == "postgresql://gantry:***@postgres:5432/gantry" ]]

echo "== a seed job: submitted through replica 1, watched through 2, sampled through 3"
id=$("$gantry" --server "$(grpc 1)" submit --epochs 20 --name compose-seed)
echo "submitted $id through replica 1"
"$gantry" --server "$(grpc 2)" watch "$id" >"$work/watch.txt"
tail -2 "$work/watch.txt"
[ "$(tail -1 "$work/watch.txt")" = "state SUCCEEDED" ]
epochs=$(grep -c '^epoch ' "$work/watch.txt")
echo "watched through replica 2: $epochs epoch events, then SUCCEEDED"
[ "$epochs" -eq 20 ]
"$gantry" --server "$(grpc 3)" sample "$id" --count 50 --seed 3 >"$work/sample-3.csv"
[ "$(wc -l <"$work/sample-3.csv")" -eq 51 ]
"$gantry" --server "$(grpc 1)" sample "$id" --count 50 --seed 3 >"$work/sample-1.csv"
cmp "$work/sample-3.csv" "$work/sample-1.csv"
echo "sampled through replica 3: 50 points; replica 1 gives the same 50 for --seed 3"
for i in 1 2 3; do
  "$gantry" --server "$(grpc $i)" get "$id" | grep -q 'SUCCEEDED'
done
echo "every replica reports the job SUCCEEDED"

echo "== podman-compose down -v"
teardown
left=$(podman ps -a -q --filter "label=io.podman.compose.project=$proj" | wc -l)
vols=$(podman volume ls -q --filter "label=io.podman.compose.project=$proj" | wc -l)
nets=$(podman network ls -q --filter "name=^${proj}_" | wc -l)
echo "left behind: $left containers, $vols volumes, $nets networks"
[ "$left" -eq 0 ] && [ "$vols" -eq 0 ] && [ "$nets" -eq 0 ]
echo "compose test: 1 passed, 0 failed"
