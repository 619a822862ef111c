#!/usr/bin/env bash
# Installs every Debian package that gantry's build, tests and runtime need.
# The only place packages come from. Idempotent: when everything is present it
# only runs dpkg-query and exits within a second.
#
# Usage: deploy/install-deps.sh [--runtime-only]
#   --runtime-only   the shared libraries gantryd and gantry need at run time
#                    (used by the container's runtime stage).
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libspdlog-dev libgtest-dev libgmock-dev libcli11-dev libsqlite3-dev
  libcairo2-dev prometheus-cpp-dev nlohmann-json3-dev zlib1g-dev
  # tests: the seed program as the reference, and a Python gRPC client
  python3 python3-torch python3-grpcio python3-protobuf python3-pil openssl
)
runtime_pkgs=(
  libtorch1.13 libopenblas0-pthread libgrpc++1.51 libprotobuf32
  libspdlog1.10 libsqlite3-0 libcairo2 libprometheus-cpp-pull1.0
  libprometheus-cpp-core1.0 ca-certificates
)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--runtime-only" ]]; then
  pkgs=("${runtime_pkgs[@]}")
fi

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
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
