#!/usr/bin/env bash
# Installs every Debian package that gantry's build, tests and runtime need.
# The only place packages come from. Idempotent: when everything is present it
# only runs dpkg-query and exits within a second.
#
# Usage: deploy/install-deps.sh [--build | --runtime-only]
#   (none)           everything: build, tests (the reference program, Python
#                    gRPC, image checks, certificates, the container test's
#                    podman) and runtime
#   --build          only what compiling gantryd and gantry needs (the
#                    container's build stage)
#   --runtime-only   the shared libraries gantryd and gantry need at run time
#                    (the container's runtime stage)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config ca-certificates
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libspdlog-dev libcli11-dev libsqlite3-dev libcairo2-dev prometheus-cpp-dev zlib1g-dev
)
test_pkgs=(
  git libgtest-dev libgmock-dev
  # the seed program as the reference, a Python gRPC client, plot and cert checks
  python3 python3-torch python3-grpcio python3-protobuf python3-pil openssl
  # the container test (shared/docs/containers.md)
  podman runc debootstrap
)
runtime_pkgs=(
  libtorch1.13 libopenblas0-pthread libgrpc++1.51 libgrpc29 libprotobuf32
  libspdlog1.10 libsqlite3-0 libcairo2 libprometheus-cpp-core1.0 zlib1g ca-certificates
)

case "${1:-}" in
  "") pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  --build) pkgs=("${build_pkgs[@]}") ;;
  --runtime-only) pkgs=("${runtime_pkgs[@]}") ;;
  *) echo "usage: $0 [--build | --runtime-only]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# podman needs its recommended helpers (networking, conmon's companions).
plain=() with_recommends=()
for p in "${missing[@]}"; do
  if [[ "$p" == podman ]]; then with_recommends+=("$p"); else plain+=("$p"); fi
done
if ((${#plain[@]})); then $SUDO apt-get install -y -q --no-install-recommends "${plain[@]}"; fi
if ((${#with_recommends[@]})); then $SUDO apt-get install -y -q "${with_recommends[@]}"; fi
