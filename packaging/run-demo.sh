#!/usr/bin/env bash
# Single-node evaluation install: installs dependencies, builds, and starts
# lianfangd (with its embedded in-memory Kafka-protocol broker, LMDB store
# and dashboard) and one agent tailing bundled sample logs, fed with fresh
# lines every few seconds. Everything lives under ./run/.
#   ./packaging/run-demo.sh         start (or restart)
#   ./packaging/run-demo.sh stop    stop everything
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUN="$ROOT/run"
stop_all() {
  for name in feeder agent lianfangd; do
    if [ -f "$RUN/$name.pid" ]; then
      pid="$(cat "$RUN/$name.pid")"
      if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      rm -f "$RUN/$name.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then stop_all; echo "lianfang demo stopped"; exit 0; fi

./packaging/install-deps.sh
./packaging/build.sh release
stop_all
mkdir -p "$RUN/logs" "$RUN/samples"
BIN="$ROOT/build/release"
# The sample logs are copied so the feeder can append to them.
for f in packaging/samples/*.log; do
  [ -f "$RUN/samples/$(basename "$f")" ] || cp "$f" "$RUN/samples/"
done
# Enrolment: one token for the demo agency, generated once; lianfangd keeps
# its SHA-256, the agent the token (mode 0600).
if [ ! -s "$RUN/agent-enrolment.token" ]; then
  (umask 077; openssl rand -hex 32 > "$RUN/agent-enrolment.token")
fi
chmod 0600 "$RUN/agent-enrolment.token"
(umask 027; printf 'tokens:\n  TC-01: "sha256:%s"\n' \
  "$(tr -d '\n' < "$RUN/agent-enrolment.token" | sha256sum | cut -d' ' -f1)" \
  > "$RUN/enrolment-tokens.yaml")
sed "s#@RUN@#$RUN#g" packaging/demo/lianfangd.yaml > "$RUN/lianfangd.yaml"
sed "s#@RUN@#$RUN#g" packaging/demo/lianfang-agent.yaml > "$RUN/lianfang-agent.yaml"

nohup "$BIN/server/lianfangd" --config "$RUN/lianfangd.yaml" >>"$RUN/logs/lianfangd.log" 2>&1 &
echo $! > "$RUN/lianfangd.pid"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:8080/api/v1/health 2>/dev/null && break
  kill -0 "$(cat "$RUN/lianfangd.pid")" 2>/dev/null || { tail -20 "$RUN/logs/lianfangd.log"; exit 1; }
  sleep 0.2
done
nohup "$BIN/agent/lianfang-agent" --config "$RUN/lianfang-agent.yaml" >>"$RUN/logs/agent.log" 2>&1 &
echo $! > "$RUN/agent.pid"
nohup "$ROOT/packaging/sample-feeder.sh" "$RUN/samples" >>"$RUN/logs/feeder.log" 2>&1 &
echo $! > "$RUN/feeder.pid"
sleep 2
count="$(curl -fsS 'http://127.0.0.1:8080/api/v1/events?limit=1000' | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0)"
cat <<MSG

Lianfang is running (evaluation install; the embedded broker is IN MEMORY).
  Dashboard:  http://127.0.0.1:8080/
  API:        http://127.0.0.1:8080/api/v1/events   (${count} events so far)
  Metrics:    http://127.0.0.1:8080/metrics
  Logs:       $RUN/logs/
  Stop:       ./packaging/run-demo.sh stop
MSG
