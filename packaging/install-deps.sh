#!/usr/bin/env bash
# Installs every build and test dependency of Lianfang from Debian 12
# packages. Run as root (or with sudo). Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev python3
  librdkafka-dev libuv1-dev liblmdb-dev lmdb-utils libyaml-dev libjansson-dev
  libmicrohttpd-dev libpcre2-dev libyara-dev libzstd-dev libssl-dev libcmocka-dev
  curl procps openssl libsystemd-dev systemd-journal-remote
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all dependencies present"
