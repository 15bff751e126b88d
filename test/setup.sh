#!/usr/bin/env bash
# Installs what the test suites need on Debian 12 (run as root): a real dockerd 20.10 with its
# containerd and runc, a static busybox for offline test images, Debian's docker-registry and openssl
# for the managed-plugin tests' loopback registry, debootstrap and libcap2-bin (setcap) for the
# oracle suite's Debian image, Docker 26 and containerd 1.7 from Debian 13 in a private prefix for the
# containerd-route tests (test/setup-trixie.sh), and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(docker.io containerd runc busybox-static tar attr util-linux e2fsprogs docker-registry openssl debootstrap libcap2-bin libatomic1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
bash test/setup-trixie.sh  # Docker 26 + containerd 1.7 from Debian 13 into /opt/strata-test/trixie, not installed
npm ci --no-audit --no-fund
bash test/setup-node.sh  # the tested Node.js lines (22, 24, 26) into /opt/strata-test/node; the system node stays
