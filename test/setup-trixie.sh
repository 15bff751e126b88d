#!/usr/bin/env bash
# Brings Docker 26.1.5 (docker.io and docker-cli), containerd 1.7.24 (containerd) and docker-buildx from the
# Debian 13 (trixie) archive into a private prefix, for the containerd-route tests. Nothing is
# installed: the packages are fetched with `apt-get download` through a private apt config and
# unpacked with `dpkg -x`, so the system's docker.io 20.10 and containerd stay as they are.
# Debian 13's runc needs a newer glibc than Debian 12 has, so it is left out: containerd runs
# Debian 12's /usr/sbin/runc (from the `runc` package that test/setup.sh installs).
#
# The archive's address is copied at run time from this machine's own apt sources (the main,
# non-security stanza), so no host name is written here. Run as root; re-running is a no-op
# when the prefix already holds the expected versions.
#
#   STRATA_TRIXIE_PREFIX   where to unpack (default /opt/strata-test/trixie)
set -euo pipefail

PREFIX=${STRATA_TRIXIE_PREFIX:-/opt/strata-test/trixie}
DOCKER_VERSION=26.1.5
CONTAINERD_VERSION=1.7.24
PACKAGES=(docker.io docker-cli containerd docker-buildx)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

bin=$PREFIX/usr/bin
sbin=$PREFIX/usr/sbin
buildx=$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx

versions_ok() {
  "$sbin/dockerd" --version 2>/dev/null | grep -q "version $DOCKER_VERSION" &&
    "$bin/docker" --version 2>/dev/null | grep -q "version $DOCKER_VERSION" &&
    "$bin/containerd" --version 2>/dev/null | grep -q " $CONTAINERD_VERSION" &&
    "$bin/ctr" --version 2>/dev/null | grep -q " $CONTAINERD_VERSION" &&
    "$bin/containerd-shim-runc-v2" -v 2>/dev/null | grep -q "$CONTAINERD_VERSION" &&
    "$buildx" version >/dev/null 2>&1
}

report() {
  echo "trixie prefix $PREFIX:"
  "$sbin/dockerd" --version
  "$bin/docker" --version
  "$bin/containerd" --version
  "$bin/ctr" --version
  echo "containerd-shim-runc-v2 $("$bin/containerd-shim-runc-v2" -v | sed -n 's/^ *Version: *//p')"
  echo "docker-buildx: $("$buildx" version)"
  if [[ -f $PREFIX/.packages ]]; then sed 's/^/  /' "$PREFIX/.packages"; fi
}

if versions_ok; then
  echo "setup-trixie: already in place"
  report
  exit 0
fi

# The main archive's URIs, from deb822 sources (debian.sources) or one-line sources.list.
main_uris() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [[ -f $f ]]; then
    # One stanza per blank-line separated paragraph; take the URIs of stanzas with a non-security suite.
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = $i; sub(/^Suites:[ \t]*/, "", suites) }
        }
        if (uris != "" && suites !~ /-security/) print uris
      }' "$f"
  fi
  if [[ -f /etc/apt/sources.list ]]; then
    # deb [options] URI suite components...
    sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\2 \3/p' /etc/apt/sources.list |
      awk '$2 !~ /-security/ { print $1 }'
  fi
}

uris=$(main_uris | tr ' ' '\n' | grep -E '^(https?|file|mirror\+[a-z]+)://' | awk '!seen[$0]++' | tr '\n' ' ')
uris=${uris% }
if [[ -z $uris ]]; then
  echo "setup-trixie: found no main Debian archive in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
  exit 1
fi

work=$(mktemp -d /tmp/strata-trixie-apt.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/preferences.d"
cat >"$work/sources.list.d/trixie.sources" <<EOF
Types: deb
URIs: $uris
Suites: trixie
Components: main
Signed-By: $KEYRING
EOF
: >"$work/sources.list"
# Only trixie is visible to this config, so apt-get download picks trixie's versions.
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/sources.list.d"
  -o "Dir::Etc::PreferencesParts=$work/preferences.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "APT::Architecture=$(dpkg --print-architecture)"
  -o "Acquire::Languages=none"
  -o "APT::Sandbox::User=root"
)
echo "setup-trixie: fetching trixie's package lists from $uris"
apt-get "${apt_opts[@]}" update -q
(cd "$work/debs" && apt-get "${apt_opts[@]}" download "${PACKAGES[@]}")

rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new"
for deb in "$work"/debs/*.deb; do
  dpkg -x "$deb" "$PREFIX.new"
  dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$PREFIX.new/.packages"
done
# Swap in the new prefix only once it is complete.
rm -rf "$PREFIX"
mv "$PREFIX.new" "$PREFIX"

if ! versions_ok; then
  echo "setup-trixie: the unpacked binaries do not run or are not the expected versions (docker $DOCKER_VERSION, containerd $CONTAINERD_VERSION):" >&2
  for c in "$sbin/dockerd --version" "$bin/docker --version" "$bin/containerd --version" "$bin/ctr --version" "$bin/containerd-shim-runc-v2 -v" "$buildx version"; do
    echo "+ $c" >&2
    $c >&2 || true
  done
  exit 1
fi
echo "setup-trixie: installed into $PREFIX"
report
