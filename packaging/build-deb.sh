#!/usr/bin/env bash
# Builds the Debian packages lianfang-agent and lianfang-server into out/deb/
# (release build, CPack; packaging/deb/package.cmake describes them).
#   ./packaging/build-deb.sh && ls out/deb/
# Install on an agency server: dpkg -i lianfang-agent_*.deb, then set
# agent.id, agent.agency and kafka.brokers in /etc/lianfang/lianfang-agent.yaml
# and `systemctl start lianfang-agent`.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/install-deps.sh
./packaging/build.sh release
mkdir -p out/deb
(cd build/release && cpack -G DEB -B "$PWD/../../out/deb")
ls -l out/deb/*.deb
