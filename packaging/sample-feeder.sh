#!/usr/bin/env bash
# Appends realistic lines to the demo's sample logs every few seconds, so the
# dashboard shows a live stream (an SSH brute force, sudo, cron, a firewall).
set -u
dir="$1"
ips=(203.0.113.45 198.51.100.23 192.0.2.77)
users=(root admin oracle test ubuntu)
i=0
while :; do
  # Taiwan time (UTC+8), as the sample devices would log it.
  now="$(TZ=UTC-8 date '+%b %e %H:%M:%S')"
  ip="${ips[$((i % 3))]}"
  user="${users[$((i % 5))]}"
  echo "$now web01 sshd[$((2000 + i % 300))]: Failed password for invalid user $user from $ip port $((40000 + i % 20000)) ssh2" >> "$dir/auth.log"
  if [ $((i % 5)) -eq 0 ]; then
    echo "$now web01 sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx" >> "$dir/auth.log"
  fi
  if [ $((i % 3)) -eq 0 ]; then
    echo "$now web01 CRON[$((3000 + i))]: (root) CMD (/usr/local/bin/backup.sh)" >> "$dir/syslog.log"
    echo "$now fw01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=$ip DST=10.20.1.5 LEN=60 PROTO=TCP SPT=$((40000 + i)) DPT=22 SYN" >> "$dir/syslog.log"
  fi
  i=$((i + 1))
  sleep 3
done
