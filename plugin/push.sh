#!/usr/bin/env bash
# push.sh PLUGIN_DIR REPOSITORY — pushes the plugin as REPOSITORY:<version>, e.g.
# `push.sh build/plugin registry.example.com/strata`. A plugin's name is its registry
# reference, so it is created under that name first (unless the daemon has it already).
# NOTE: a daemon refuses to create a second plugin from the same contents ("content sha256:…
# already exists"): push from a daemon that does not hold this build under another name.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir=${1:?usage: push.sh PLUGIN_DIR REPOSITORY}
repository=${2:?usage: push.sh PLUGIN_DIR REPOSITORY}
reference=$repository:$version
if ! "$docker" plugin inspect "$reference" >/dev/null 2>&1; then
  "$docker" plugin create "$reference" "$dir"
fi
"$docker" plugin push "$reference"
