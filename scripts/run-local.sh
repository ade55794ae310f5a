#!/usr/bin/env bash
# Runs the whole of Duroscope locally, fed by the generator:
#   ClickHouse (installed from Debian if missing, private data dir),
#   the projector with its embedded NATS JetStream server on 127.0.0.1:4222,
#   the query service on http://127.0.0.1:8080,
#   the generator publishing a realistic, endless Duroxide workload.
# Ctrl-C stops everything. Settings: the DUROSCOPE_* variables of README.md,
# plus GEN_RATE (events/s, default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "run-local: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
export DUROSCOPE_CH_PORT=${DUROSCOPE_CH_PORT:-9000}
export DUROSCOPE_CLICKHOUSE_ADDR=${DUROSCOPE_CLICKHOUSE_ADDR:-127.0.0.1:$DUROSCOPE_CH_PORT}
ch_started=0
if ! scripts/clickhouse.sh status >/dev/null 2>&1; then
  scripts/clickhouse.sh start
  ch_started=1
fi
mkdir -p bin .data/logs
echo "building..."
go build -o bin/ ./cmd/...
pids=()
cleanup() {
  echo; echo "stopping..."
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$ch_started" = 1 ]; then scripts/clickhouse.sh stop; fi
}
trap cleanup EXIT INT TERM
bin/projector --data-dir .data >.data/logs/projector.log 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  (echo >/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
  sleep 0.5
done
bin/query >.data/logs/query.log 2>&1 &
pids+=($!)
bin/gen --loop --rate "${GEN_RATE:-2000}" --queues >.data/logs/gen.log 2>&1 &
pids+=($!)
cat <<MSG

Duroscope is running (logs in .data/logs/):
  query API   http://127.0.0.1:8080   e.g. curl -s localhost:8080/v1/health
  projector   http://127.0.0.1:8081/metrics
  NATS        nats://127.0.0.1:4222 (embedded JetStream)
  ClickHouse  $DUROSCOPE_CLICKHOUSE_ADDR, database duroscope
Counts every 5 s below; Ctrl-C stops everything.

MSG
while true; do
  sleep 5
  h=$(curl -s --max-time 2 http://127.0.0.1:8080/v1/health || true)
  w=$(curl -s --max-time 2 http://127.0.0.1:8080/v1/watermark || true)
  echo "$(date +%T) health=$h watermark=$w"
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a process exited; see .data/logs/" >&2; exit 1; }
  done
done
