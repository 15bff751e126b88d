#!/usr/bin/env bash
# create.sh PLUGIN_DIR [NAME] — registers the plugin directory with the daemon as NAME (default
# strata:<version from package.json>). The plugin starts disabled: `docker plugin enable NAME`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir=${1:?usage: create.sh PLUGIN_DIR [NAME]}
name=${2:-strata:$version}
"$docker" plugin create "$name" "$dir"
