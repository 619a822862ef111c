#!/usr/bin/env bash
# Builds deploy/Dockerfile into IMAGE for the podman tests (container_test.sh,
# and compose_test.sh when the image is missing), as deploy/README.md
# ("Container") shows, and prints how long it took:
#
#   tests/deploy/build_image.sh IMAGE GANTRY_CLI GANTRYD
#
# The image's binaries are the build under test: stripped (as the build stage
# strips), staged by deploy/stage-runtime.sh with the libraries they load,
# and `--build-context build=DIR` puts that staging root in place of the
# Dockerfile's build stage, which then does not run; the runtime stage, its
# checks, user, volume, ports and HEALTHCHECK are the Dockerfile's own. That
# needs a host of the image's release (Debian 12: the staged libraries must
# be the ones the base image's glibc runs). On any other host, or with
# GANTRY_CONTAINER_FROM_SOURCE=1, it builds the Dockerfile as a user does:
# the build stage installs the build packages and compiles gantry in the
# container (about 20 minutes on 2 cores).
#
# Expects the base image (tests/deploy/base_image.sh) and the repository root
# as the working directory.
set -euo pipefail
image=$1 gantry=$2 gantryd=$3
base=docker.io/library/debian:bookworm-slim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

from_source=${GANTRY_CONTAINER_FROM_SOURCE:-}
host_release=$(. /etc/os-release && echo "${ID:-}:${VERSION_CODENAME:-}")
if [ -z "$from_source" ] && [ "$host_release" != debian:bookworm ]; then
  echo "this host is $host_release, the image debian:bookworm: building from source"
  from_source=1
fi
context_args=()
start=$(date +%s)
if [ -z "$from_source" ]; then
  echo "== staging $gantryd and $gantry (deploy/stage-runtime.sh)"
  # What the base image has, as the Dockerfile's build stage lists it.
  podman --runtime runc run --rm --cgroup-manager=cgroupfs --network none \
    --ulimit nproc=4096:4096 --ulimit nofile=4096:4096 \
    "$base" dpkg-query -W -f '${Package}\n' >"$work/base-packages.txt"
  mkdir -p "$work/bin"
  strip -o "$work/bin/gantryd" "$gantryd"
  strip -o "$work/bin/gantry" "$gantry"
  deploy/stage-runtime.sh "$work/stage" "$work/base-packages.txt" "$work/bin/gantryd" "$work/bin/gantry"
  context_args=(--build-context "build=$work")
fi

echo "== podman build $image${from_source:+ from source}"
podman build --format docker --isolation chroot --pull=never "${context_args[@]}" -t "$image" \
  -f deploy/Dockerfile . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
echo "built $image in $(( $(date +%s) - start )) s${from_source:+ (from source)}"
