#!/usr/bin/env bash
# Copies gantryd and gantry with exactly the shared libraries they load into a
# staging root, for the image's runtime stage (deploy/Dockerfile):
#
#   deploy/stage-runtime.sh STAGING BASE_PACKAGES BINARY...
#
# It runs in the Dockerfile's build stage, or on a Debian 12 host whose own
# build goes into the image instead: staged into DIR/stage, then
# `podman build --build-context build=DIR` (tests/deploy/container_test.sh).
#
# - every library in the binaries' ldd closure (ldd already lists the whole
#   recursive closure), each with its chain of symlinks kept as symlinks:
#   libblas.so.3 -> /etc/alternatives/libblas.so.3-x86_64-linux-gnu ->
#   openblas-pthread/libblas.so.3, so the image loads OpenBLAS (pthread), the
#   BLAS gantryd's results are measured with, and nothing else;
# - nothing that gantryd loads with dlopen is missing from that closure: its
#   /proc/PID/maps while training lists only ldd's files plus ld.so;
#   glibc 2.36 has the files and dns NSS modules built in, so hostname lookups
#   (postgres:5432 for --store) need no extra module;
# - CA certificates and OpenSSL's configuration (TLS, libpq's sslmode), and
#   fontconfig with the DejaVu fonts (gantry plot draws its axis labels).
#
# Files of packages that the runtime's base image already has (BASE_PACKAGES:
# dpkg-query -W -f '${Package}\n' taken in the same base) are left out: the
# runtime stage starts from that same debian:bookworm-slim.
set -euo pipefail
stage=$1 base_pkgs=$2
shift 2

# Every path the base packages own, in its /usr form (bookworm's /lib,
# /bin, /sbin and /lib64 are symlinks into /usr).
declare -A in_base copied
while read -r f; do
  [[ "$f" == /* ]] || continue
  in_base[$f]=1
  case $f in /lib/*|/lib64/*|/bin/*|/sbin/*) in_base[/usr$f]=1 ;; esac
done < <(xargs dpkg -L <"$base_pkgs" 2>/dev/null)

libs=$(mktemp)
trap 'rm -f "$libs"' EXIT
mkdir -p "$stage/usr/local/bin"
for bin in "$@"; do
  cp -a "$bin" "$stage/usr/local/bin/"
  ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}'
done | sort -u >"$libs"
if grep -q 'not found' < <(for bin in "$@"; do ldd "$bin"; done); then
  echo "stage-runtime: a library is not found" >&2; exit 1
fi

# Every library with its chain of symlinks, one step at a time: each link is
# copied as a link, then the file it ends at. Each path in its directory's
# canonical form (/lib is a symlink to usr/lib in bookworm, and the base
# image has that symlink already). The chains are followed a step for all at
# once, and copied a directory at a time, so that a few hundred libraries
# cost a few processes, not thousands.
declare -A canonical
mapfile -t pending <"$libs"
to_copy=()
while ((${#pending[@]})); do
  links=()
  for f in "${pending[@]}"; do
    dir=${f%/*}
    [[ -n "${canonical[$dir]+x}" ]] || canonical[$dir]=$(readlink -f "$dir")
    f=${canonical[$dir]}/${f##*/}
    [[ -z "${copied[$f]+x}" ]] || continue
    copied[$f]=1
    [[ -z "${in_base[$f]+x}" ]] || continue
    to_copy+=("$f")
    [[ ! -L "$f" ]] || links+=("$f")
  done
  pending=()
  ((${#links[@]})) || break
  mapfile -t targets < <(readlink -- "${links[@]}")
  for i in "${!links[@]}"; do
    t=${targets[i]}
    [[ "$t" == /* ]] || t="${links[i]%/*}/$t"
    pending+=("$t")
  done
done
declare -A by_dir
for f in "${to_copy[@]}"; do by_dir[${f%/*}]+="$f"$'\n'; done
for dir in "${!by_dir[@]}"; do
  mapfile -t files <<<"${by_dir[$dir]%$'\n'}"
  mkdir -p "$stage$dir"
  cp -a -t "$stage$dir" -- "${files[@]}"
done

for extra in /etc/ssl/certs/ca-certificates.crt /etc/ssl/openssl.cnf /usr/lib/ssl \
             /etc/fonts /usr/share/fonts/truetype/dejavu; do
  [[ -e "$extra" ]] || continue
  mkdir -p "$stage$(dirname "$extra")"
  cp -a "$extra" "$stage$extra"
done

echo "stage-runtime: $(wc -l <"$libs") libraries from ldd," \
     "$(find "$stage" -type f | wc -l) files, $(du -sm "$stage" | cut -f1) MiB in $stage"
