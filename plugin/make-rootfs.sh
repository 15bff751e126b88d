#!/usr/bin/env bash
# make-rootfs.sh ROOTFS — assembles the managed plugin's root filesystem from the machine it runs
# on: this node binary, util-linux mount/umount, coreutils rm (layers are deleted out of
# process), the shared libraries ldd lists for them, the server compiled from src/ and its
# production dependencies, and a minimal /etc. The Dockerfile
# runs this script in its build stage and build-offline.sh runs it on the host, so both ways
# give the same tree.
set -euo pipefail
umask 022

rootfs=${1:?usage: make-rootfs.sh ROOTFS}
repo=$(cd "$(dirname "$0")/.." && pwd)
app=/opt/strata

if [[ -e $rootfs && -n $(ls -A "$rootfs") ]]; then
  echo "make-rootfs.sh: $rootfs is not empty" >&2
  exit 1
fi
mkdir -p "$rootfs"
rootfs=$(cd "$rootfs" && pwd)

# Mirror the host's merged-/usr symlinks (lib -> usr/lib, …) so library paths resolve as on the host.
for top in bin sbin lib lib64; do
  if [[ -L /$top ]]; then
    target=$(readlink "/$top")
    mkdir -p "$rootfs/${target#/}"
    ln -s "$target" "$rootfs/$top"
  fi
done

# copy_host_file FILE copies a host file to the same path in the rootfs, under its real directory.
copy_host_file() {
  local dest
  dest=$rootfs$(readlink -f "$(dirname "$1")")/$(basename "$1")
  if [[ ! -e $dest ]]; then install -D -m "$(stat -L -c %a "$1")" "$1" "$dest"; fi
}

# copy_libs BIN copies every library ldd lists for BIN, the dynamic loader included.
copy_libs() {
  local lib
  while read -r lib; do copy_host_file "$lib"; done < <(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# The server: compiled from src/ only, with production dependencies from the lock file.
mkdir -p "$rootfs$app"
cp "$repo/package.json" "$repo/package-lock.json" "$rootfs$app/"
(cd "$rootfs$app" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error)
rm -f "$rootfs$app/package-lock.json"
"$repo/node_modules/.bin/tsc" -p "$repo/plugin/tsconfig.rootfs.json" --outDir "$rootfs$app/dist"

for tool in node mount umount rm; do
  install -D -m 0755 "$(command -v "$tool")" "$rootfs/usr/bin/$tool"
  copy_libs "$rootfs/usr/bin/$tool"
done
while read -r addon; do copy_libs "$addon"; done < <(find "$rootfs$app/node_modules" -name '*.node')

mkdir -p "$rootfs"/{etc,proc,sys,dev,run/docker/plugins,var/lib/strata-data}
install -d -m 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"

# Fixed times make two builds of the same sources byte-identical.
find "$rootfs" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
