#!/usr/bin/env bash
# Builds the Debian packages from a build tree with CPack and checks them:
# the files each carries, its dependencies, conffiles and maintainer
# scripts (valid sh). Usage: check_deb.sh BUILD_DIR
set -euo pipefail
build="$1"
out="$(mktemp -d /tmp/lf-deb-XXXXXX)"
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) || {
  cat "$out/cpack.log"
  exit 1
}
fail() { echo "FAIL: $*" >&2; exit 1; }
agent="$(ls "$out"/lianfang-agent_*.deb)" || fail "no lianfang-agent package"
server="$(ls "$out"/lianfang-server_*.deb)" || fail "no lianfang-server package"

check_files() { # deb, files...
  local deb="$1"; shift
  local list
  list="$(dpkg-deb -c "$deb")"
  for f in "$@"; do
    grep -q " \./${f#/}\$" <<<"$list" || fail "$(basename "$deb") lacks $f"
  done
}
check_files "$agent" /usr/bin/lianfang-agent /etc/lianfang/lianfang-agent.yaml \
  /lib/systemd/system/lianfang-agent.service
check_files "$server" /usr/bin/lianfangd /usr/bin/lianfang-broker /usr/bin/lianfang-logtest \
  /etc/lianfang/lianfangd.yaml /lib/systemd/system/lianfangd.service \
  /usr/share/lianfang/rules/regions/taiwan.yaml /usr/share/lianfang/decoders/sshd.yaml
dpkg-deb -c "$agent" | grep -q "usr/bin/lianfangd" && fail "the agent package carries lianfangd"

for deb in "$agent" "$server"; do
  name="$(basename "$deb")"
  info="$(dpkg-deb -I "$deb")"
  grep -q "Depends: adduser, libc6, librdkafka1" <<<"$info" || fail "$name: dependencies"
  grep -q " conffiles" <<<"$info" || fail "$name: no conffiles"
  ctl="$out/ctl-$name"
  dpkg-deb -e "$deb" "$ctl"
  grep -q '^/etc/lianfang/' "$ctl/conffiles" || fail "$name: /etc files are not conffiles"
  for s in postinst prerm postrm; do
    [ -x "$ctl/$s" ] || fail "$name: $s missing or not executable"
    sh -n "$ctl/$s" || fail "$name: $s is not valid sh"
  done
  grep -q "adduser --system" "$ctl/postinst" || fail "$name: postinst creates no system user"
done
# The binaries in the packages run.
dpkg-deb -x "$agent" "$out/root"
"$out/root/usr/bin/lianfang-agent" --version | grep -q "lianfang-agent"
"$out/root/usr/bin/lianfang-agent" --check-config --config "$out/root/etc/lianfang/lianfang-agent.yaml"
echo "packages: $(basename "$agent") $(basename "$server")"
