#!/usr/bin/env bash
# Decoding cost per CPU-second: lianfang-logtest (the decoding code and rule
# files of lianfangd, with full ECS JSON output) against liblognorm's
# lognormalizer (the engine of rsyslog's mmnormalize, flat JSON output) on
# the same syslog lines (sshd failures and acceptances, RFC 3164 headers).
# Figures only. Needs Debian's liblognorm-utils:
#   apt-get install liblognorm-utils
#   bash bench/lognorm_compare.sh [lines] [build dir]
set -euo pipefail
lines="${1:-500000}"
build="${2:-build/release}"
cd "$(dirname "$0")/.."
command -v lognormalizer >/dev/null || {
  echo "lognormalizer not found: apt-get install liblognorm-utils" >&2
  exit 2
}
work="$(mktemp -d /tmp/lf-lognorm-XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 - "$lines" > "$work/input.log" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    kind = i % 3
    if kind == 0:
        msg = f"Failed password for invalid user u{i % 997} from 203.0.{i % 251}.{i % 199} port {40000 + i % 20000} ssh2"
    elif kind == 1:
        msg = f"Failed password for root from 198.51.{i % 251}.{i % 97} port {30000 + i % 20000} ssh2"
    else:
        msg = f"Accepted password for admin{i % 13} from 10.{i % 200}.{i % 250}.{i % 240} port {50000 + i % 10000} ssh2"
    print(f"<38>Mar 10 09:{i // 60 % 60:02d}:{i % 60:02d} appt{i % 9:02d} sshd[{2000 + i % 30000}]: {msg}")
PY
cat > "$work/sshd.rulebase" <<'RB'
version=2
rule=sshd:<%pri:number%>%ts:date-rfc3164% %host:word% sshd[%pid:number%]: Failed password for invalid user %user:word% from %ip:ipv4% port %port:number% ssh2
rule=sshd:<%pri:number%>%ts:date-rfc3164% %host:word% sshd[%pid:number%]: Failed password for %user:word% from %ip:ipv4% port %port:number% ssh2
rule=sshd:<%pri:number%>%ts:date-rfc3164% %host:word% sshd[%pid:number%]: Accepted password for %user:word% from %ip:ipv4% port %port:number% ssh2
RB

cpu() { # runs the command (stdout to $work/out) and prints its user+sys seconds
  /usr/bin/time -f '%U %S' -o "$work/time" "$@" > "$work/out"
  awk '{printf "%.2f", $1 + $2}' "$work/time"
}
ln_s="$(cpu lognormalizer -r "$work/sshd.rulebase" -e json -T < "$work/input.log")"
ln_ok="$(grep -vc 'unparsed-data' "$work/out" || true)"
lf_s="$(cpu "$build/tools/lianfang-logtest" --decoders rules/decoders \
           --reference 2026-03-10T09:00:00+08:00 "$work/input.log")"
lf_ok="$(grep -c '"decoder":"sshd"' "$work/out" || true)"
echo "input: $lines lines ($(du -h "$work/input.log" | cut -f1))"
awk -v n="$lines" -v s="$ln_s" -v ok="$ln_ok" \
  'BEGIN{printf "lognormalizer (liblognorm %s): %.2f CPU-s, %d parsed, %.0f lines per CPU-second\n", "2.0.6", s, ok, n/s}'
awk -v n="$lines" -v s="$lf_s" -v ok="$lf_ok" \
  'BEGIN{printf "lianfang-logtest (decode + ECS JSON): %.2f CPU-s, %d decoded by sshd, %.0f lines per CPU-second\n", s, ok, n/s}'
awk -v a="$ln_s" -v b="$lf_s" 'BEGIN{printf "ratio (lognormalizer CPU-s / lianfang CPU-s): %.2f\n", a/b}'
