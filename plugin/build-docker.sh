#!/usr/bin/env bash
# build-docker.sh PLUGIN_DIR [DOCKER_BUILD_OPTION...] — makes a plugin directory (config.json +
# rootfs/) from the Dockerfile: docker build, docker create, docker export. Needs a daemon that
# can pull the base image; further options go to docker build, e.g.
# --build-arg NODE_IMAGE=node@sha256:<digest> to pin it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir=${1:?usage: build-docker.sh PLUGIN_DIR [DOCKER_BUILD_OPTION...]}
shift
image=strata-plugin-rootfs:$version
new_plugin_dir "$dir"
"$docker" build -t "$image" "$@" "$repo"
# The image has no command: give docker create one; the container is never started.
container=$("$docker" create "$image" /usr/bin/node)
trap '"$docker" rm "$container" >/dev/null' EXIT
mkdir "$dir/rootfs"
"$docker" export "$container" | tar -x -C "$dir/rootfs"
cp "$repo/config.json" "$dir/config.json"
echo "plugin directory ready: $dir (next: plugin/create.sh $dir)"
