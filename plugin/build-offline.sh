#!/usr/bin/env bash
# build-offline.sh PLUGIN_DIR — makes a plugin directory (config.json + rootfs/) without a
# registry: the rootfs is assembled from this machine's node, mount and umount, exactly as the
# Dockerfile's build stage assembles it. Needs root (for file ownership), npm and ldd.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir=${1:?usage: build-offline.sh PLUGIN_DIR}
new_plugin_dir "$dir"
bash "$repo/plugin/make-rootfs.sh" "$dir/rootfs"
echo "plugin directory ready: $dir (next: plugin/create.sh $dir)"
