# Sourced by the plugin/ scripts. The docker client comes from $DOCKER (default: docker on the
# PATH) and talks to $DOCKER_HOST when that is set, so the scripts work against any daemon.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker=${DOCKER:-docker}
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json")

# new_plugin_dir DIR makes DIR for a plugin directory; it must not exist or be empty. The scripts
# copy config.json in last, so a failed build never leaves something that looks like a plugin.
new_plugin_dir() {
  if [[ -e $1 && -n $(ls -A "$1") ]]; then
    echo "$(basename "$0"): $1 is not empty" >&2
    exit 1
  fi
  mkdir -p "$1"
}
