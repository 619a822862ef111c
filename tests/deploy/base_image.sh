# Sourced by the podman tests: makes docker.io/library/debian:bookworm-slim
# (the Dockerfiles' base) from Debian's packages with debootstrap, once, as
# deploy/README.md ("Container") shows by hand (no registry is reachable here).
base=docker.io/library/debian:bookworm-slim
if ! podman image exists "$base"; then
  echo "== making $base from Debian's packages (debootstrap)"
  rootfs=$(mktemp -d)
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
  rm -rf "$rootfs"
fi
