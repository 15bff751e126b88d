#!/usr/bin/env bash
# build-offline.sh PLUGIN_DIR — makes a plugin directory (config.json + rootfs/) without a
# registry: the rootfs is assembled from the pinned node build (make-rootfs.sh, through npm's
# cache) and this machine's mount, umount and rm, exactly as the Dockerfile's build stage
# assembles it. Needs npm and ldd; run it as root so that the files belong to root.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir=${1:?usage: build-offline.sh PLUGIN_DIR}
new_plugin_dir "$dir"
bash "$repo/plugin/make-rootfs.sh" "$dir/rootfs"
cp "$repo/config.json" "$dir/config.json"
echo "plugin directory ready: $dir (next: plugin/create.sh $dir)"
