#!/usr/bin/env bash
# Copies gantryd and gantry with exactly the shared libraries they load into a
# staging root, for the image's runtime stage (deploy/Dockerfile):
#
#   deploy/stage-runtime.sh STAGING BASE_PACKAGES BINARY...
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

# Copies one path into the stage, following its symlinks one step at a time
# and copying each link as a link, then the file it ends at.
copy_chain() {
  local f=$1 target
  while :; do
    # the directory in its canonical form: /lib is a symlink to usr/lib in
    # bookworm, and the base image has that symlink already.
    f="$(readlink -f "$(dirname "$f")")/$(basename "$f")"
    if [[ -n "${copied[$f]+x}" ]]; then return 0; fi
    copied[$f]=1
    if [[ -n "${in_base[$f]+x}" ]]; then return 0; fi
    mkdir -p "$stage$(dirname "$f")"
    cp -a "$f" "$stage$f"
    if [[ ! -L "$f" ]]; then return 0; fi
    target=$(readlink "$f")
    [[ "$target" == /* ]] || target="$(dirname "$f")/$target"
    f=$target
  done
}

mkdir -p "$stage/usr/local/bin"
for bin in "$@"; do
  cp -a "$bin" "$stage/usr/local/bin/"
  ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}'
done | sort -u >/tmp/stage-libs.txt
if grep -q 'not found' < <(for bin in "$@"; do ldd "$bin"; done); then
  echo "stage-runtime: a library is not found" >&2; exit 1
fi
while read -r lib; do copy_chain "$lib"; done </tmp/stage-libs.txt

for extra in /etc/ssl/certs/ca-certificates.crt /etc/ssl/openssl.cnf /usr/lib/ssl \
             /etc/fonts /usr/share/fonts/truetype/dejavu; do
  [[ -e "$extra" ]] || continue
  mkdir -p "$stage$(dirname "$extra")"
  cp -a "$extra" "$stage$extra"
done

echo "stage-runtime: $(wc -l </tmp/stage-libs.txt) libraries from ldd," \
     "$(find "$stage" -type f | wc -l) files, $(du -sm "$stage" | cut -f1) MiB in $stage"
