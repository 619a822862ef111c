#!/usr/bin/env bash
# Installs every Debian package that gantry's build, tests and runtime need.
# The only place packages come from. Idempotent: when everything is present it
# only runs dpkg-query and exits within a second.
#
# Usage: deploy/install-deps.sh [--main | --build | --runtime-only | --postgres]
#   (none)           everything: build, tests (the reference program, Python
#                    gRPC, image checks, certificates, the container test's
#                    podman, the compose test's podman-compose, Chromium and
#                    playwright-core for the dashboard's browser test,
#                    kubernetes-models for the manifests' validation, statsmodels'
#                    and scikit-learn's tables and the CTGAN peer's Python
#                    packages for the table tests and bench) and runtime
#   --main           what the main job (deploy/run-seed-job.sh) needs: the
#                    build and the runtime, no test packages
#   --build          only what compiling gantryd and gantry needs (the
#                    container's build stage)
#   --runtime-only   the packages whose shared libraries gantryd and gantry
#                    need at run time, on a machine that runs binaries built
#                    elsewhere (the image's runtime stage instead copies only
#                    the files they load: deploy/stage-runtime.sh)
#   --postgres       Debian's PostgreSQL server, for deploy/postgres.Dockerfile
#                    (the database several gantryd replicas share)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config ca-certificates
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libspdlog-dev libcli11-dev libssl-dev libsqlite3-dev libcairo2-dev prometheus-cpp-dev zlib1g-dev
  # gantryd's HTTP server (Boost.Beast, header-only), and Chart.js for the dashboard (embedded at build time)
  libboost-dev libjs-chart.js
  # the PostgreSQL store (--store postgresql://...): libpq
  libpq-dev
  # tables: libcsv reads CSV files (RFC 4180: quotes, embedded delimiters and newlines)
  libcsv-dev
  # webhooks: libcurl POSTs the deliveries (HTTP and HTTPS, with timeouts and certificate checks)
  libcurl4-openssl-dev
)
test_pkgs=(
  git libgtest-dev libgmock-dev
  # the seed program as the reference, a Python gRPC client, plot and cert checks
  python3 python3-torch python3-grpcio python3-protobuf python3-pil openssl
  # the Python client package (client/python) and its test: samples as NumPy arrays
  # (pandas, for table samples, is below)
  python3-numpy
  # the container test (tests/deploy/container_test.sh: podman with runc)
  podman runc debootstrap
  # the compose test: deploy/compose.yaml's replicas profile (PostgreSQL and
  # three gantryd) brought up with Debian's podman-compose
  podman-compose
  # the dashboard's browser test: Chromium driven by playwright-core (npm)
  chromium nodejs
  # the fault-injection test: libfiu's fiu-run and fiu-ctrl
  fiu-utils
  # the replicas tests: a real PostgreSQL 15 server (and psql), started by the tests
  postgresql postgresql-client
  # the fuzz targets: clang with libFuzzer and the sanitizers' runtimes
  clang libclang-rt-14-dev
  # tables: real tables for the tests' fixtures (tests/common/tables.py):
  # statsmodels' fair, scikit-learn's wine, breast_cancer and iris
  python3-statsmodels python3-sklearn
  # tables: the reference CTGAN peer for tests/bench/table_bench.py
  # (a CTGAN 0.12.1 folder given to --ctgan; python3-torch is above)
  python3-pandas python3-scipy python3-tqdm python3-joblib python3-threadpoolctl
)
runtime_pkgs=(
  libtorch1.13 libopenblas0-pthread libgrpc++1.51 libgrpc29 libprotobuf32
  libspdlog1.10 libsqlite3-0 libcairo2 libprometheus-cpp-core1.0 zlib1g ca-certificates
  libssl3 libpq5 libcsv3 libcurl4
)
# the PostgreSQL image for several replicas (deploy/postgres.Dockerfile)
postgres_pkgs=(postgresql)

case "${1:-}" in
  "") pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  --main) pkgs=("${build_pkgs[@]}" "${runtime_pkgs[@]}") ;;
  --build) pkgs=("${build_pkgs[@]}") ;;
  --runtime-only) pkgs=("${runtime_pkgs[@]}") ;;
  --postgres) pkgs=("${postgres_pkgs[@]}") ;;
  *) echo "usage: $0 [--main | --build | --runtime-only | --postgres]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm packages for the tests, exactly as each folder's package-lock.json pins
# them (npm ci), when they are missing or the lock file changed:
#   tests/e2e/browser   the dashboard's browser test (playwright-core)
#   tests/deploy/k8s    the Kubernetes manifests' validation (kubernetes-models:
#                       the API's schemas compiled into the package, so nothing
#                       is downloaded when it validates; yaml to read them)
install_npm() {
  [[ "${1:-}" == "" ]] || return 0
  local root dir
  root="$(cd "$(dirname "$0")/.." && pwd)"
  for dir in "$root/tests/e2e/browser" "$root/tests/deploy/k8s"; do
    [[ -f "$dir/package-lock.json" ]] || continue
    if ! command -v npm >/dev/null; then
      # Debian's nodejs ships npm separately (NodeSource's includes it).
      $SUDO apt-get install -y -q --no-install-recommends npm
    fi
    if [[ ! -f "$dir/node_modules/.package-lock.json" ||
          "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
      echo "install-deps: npm ci in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  done
}

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  install_npm "${1:-}"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get update -q
# podman needs its recommended helpers (networking, conmon's companions).
plain=() with_recommends=()
for p in "${missing[@]}"; do
  if [[ "$p" == podman ]]; then with_recommends+=("$p"); else plain+=("$p"); fi
done
if ((${#plain[@]})); then $SUDO apt-get install -y -q --no-install-recommends "${plain[@]}"; fi
if ((${#with_recommends[@]})); then $SUDO apt-get install -y -q "${with_recommends[@]}"; fi
install_npm "${1:-}"
