#!/usr/bin/env bash
# Installs what rdiag needs to build, test and run its demo on Debian 12.
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libssh-dev libssl-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libgtest-dev libsystemd-dev libseccomp-dev
  libvectorscan-dev libpcre2-dev libarchive-dev zlib1g-dev libboost1.81-dev
  openssh-client openssh-server procps python3
  postgresql postgresql-client mariadb-client
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo: install as root: ${packages[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The connection process drops to this account when the agent runs as root.
# It owns nothing and cannot log in.
if ! getent passwd rdiag-net >/dev/null; then
  echo "deps: creating system account rdiag-net"
  $SUDO useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin rdiag-net
fi

# notify_command (and later the collectors) run as this account when the
# agent runs as root; without it they do not run at all.
if ! getent passwd rdiag >/dev/null; then
  echo "deps: creating system account rdiag"
  $SUDO useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin rdiag
fi
