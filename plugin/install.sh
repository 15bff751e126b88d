#!/usr/bin/env bash
# install.sh REFERENCE — installs and enables the plugin from a registry, granting the
# privileges config.json asks for (CAP_SYS_ADMIN and CAP_MKNOD, for overlay mounts, trusted.*
# xattrs and whiteouts), and prints the daemon.json that makes dockerd use it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
reference=${1:?usage: install.sh REFERENCE}
"$docker" plugin install --grant-all-permissions "$reference"
cat <<JSON
Installed. To store images and containers with it, put this in /etc/docker/daemon.json and
restart dockerd:
{
  "experimental": true,
  "storage-driver": "$reference"
}
JSON
