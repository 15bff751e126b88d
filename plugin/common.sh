# Sourced by the plugin/ scripts. The docker client comes from $DOCKER (default: docker on the
# PATH) and talks to $DOCKER_HOST when that is set, so the scripts work against any daemon.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker=${DOCKER:-docker}
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json")

# new_plugin_dir DIR makes DIR (which must not exist or be empty) and puts config.json in it.
new_plugin_dir() {
  if [[ -e $1 && -n $(ls -A "$1") ]]; then
    echo "$(basename "$0"): $1 is not empty" >&2
    exit 1
  fi
  mkdir -p "$1"
  cp "$repo/config.json" "$1/config.json"
}
