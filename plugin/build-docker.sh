#!/usr/bin/env bash
# build-docker.sh PLUGIN_DIR — makes a plugin directory (config.json + rootfs/) from the
# Dockerfile: docker build, docker create, docker export. Needs a daemon that can pull the
# base image (NODE_IMAGE build argument).
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir=${1:?usage: build-docker.sh PLUGIN_DIR}
image=strata-plugin-rootfs:$version
new_plugin_dir "$dir"
"$docker" build -t "$image" "$repo"
# The image has no command: give docker create one; the container is never started.
container=$("$docker" create "$image" /usr/bin/node)
trap '"$docker" rm "$container" >/dev/null' EXIT
mkdir "$dir/rootfs"
"$docker" export "$container" | tar -x -C "$dir/rootfs"
echo "plugin directory ready: $dir (next: plugin/create.sh $dir)"
