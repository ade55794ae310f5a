#!/usr/bin/env bash
# Runs the whole of Duroscope locally:
#   ClickHouse (installed from Debian if missing, private data dir),
#   the projector with its embedded NATS JetStream server on 127.0.0.1:4222,
#   the query service on http://127.0.0.1:8080,
# and a load:
#   scripts/run-local.sh             the generator publishing a realistic,
#                                    endless Duroxide workload;
#   scripts/run-local.sh --duroxide  a real Duroxide runtime (Node addon
#                                    duroxide-linux-x64-gnu@0.1.29, installed
#                                    with npm into ~/.cache/duroscope/npm when
#                                    missing) running a realistic mix on a
#                                    SQLite file, which the connector reads.
# Ctrl-C stops everything. Settings: the DUROSCOPE_* variables of README.md,
# plus GEN_RATE (generator, events/s, default 2000), DUROXIDE_RATE (--duroxide,
# instances/s, default 10) and DUROXIDE_DB (--duroxide, the SQLite file,
# default .data/duroxide/duroxide.db).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=gen
case "${1:-}" in
  "") ;;
  --duroxide) mode=duroxide ;;
  -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "run-local: unknown argument $1; usage: scripts/run-local.sh [--duroxide]" >&2; exit 2 ;;
esac
command -v go >/dev/null || { echo "run-local: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
if [ "$mode" = duroxide ]; then
  command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "run-local: --duroxide needs Node.js >= 18 and npm (https://nodejs.org)" >&2; exit 1; }
  # The same cache, pinned version and lock file as internal/duroxide.EnsureAddon.
  npm_cache=${DUROSCOPE_NPM_CACHE:-$HOME/.cache/duroscope/npm}
  addon_dir=$npm_cache/node_modules/duroxide-linux-x64-gnu
  export DUROSCOPE_DUROXIDE_ADDON=$addon_dir/duroxide.linux-x64-gnu.node
  addon_ok() {
    [ -f "$DUROSCOPE_DUROXIDE_ADDON" ] &&
      node -e 'process.exit(require(process.argv[1]).version === "0.1.29" ? 0 : 1)' "$addon_dir/package.json" 2>/dev/null
  }
  if ! addon_ok; then
    echo "installing duroxide-linux-x64-gnu@0.1.29 into $npm_cache..."
    mkdir -p "$npm_cache"
    flock "$npm_cache/.duroscope-install.lock" \
      npm install --prefix "$npm_cache" --no-save --no-audit --no-fund duroxide-linux-x64-gnu@0.1.29 >/dev/null
    addon_ok || { echo "run-local: npm installed duroxide-linux-x64-gnu but $DUROSCOPE_DUROXIDE_ADDON is missing" >&2; exit 1; }
  fi
  db=${DUROXIDE_DB:-$PWD/.data/duroxide/duroxide.db}
  case "$db" in /*) ;; *) db=$PWD/$db ;; esac
  mkdir -p "$(dirname "$db")"
fi
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
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bin/projector --data-dir .data >.data/logs/projector.log 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  (echo >/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
  sleep 0.5
done
bin/query >.data/logs/query.log 2>&1 &
pids+=($!)
if [ "$mode" = gen ]; then
  bin/gen --loop --rate "${GEN_RATE:-2000}" --queues >.data/logs/gen.log 2>&1 &
  pids+=($!)
  load="generator   ${GEN_RATE:-2000} events/s (.data/logs/gen.log)"
else
  driver=internal/duroxide/driver/driver.js
  # Opening the store creates Duroxide's tables, which the connector checks for.
  node "$driver" prune-bulk --store "sqlite:$db" --ids run-local-probe --keep-last 1 >/dev/null
  # Duroxide's tracing filter starts at "warn", which logs every retried
  # "database is locked" of its SQLite dispatchers (megabytes a minute);
  # failures that matter show as Failed instances. RUST_LOG overrides it.
  export RUST_LOG=${RUST_LOG:-error}
  # Rounds of one hour (ids prefixed by the round's start, so rounds on the
  # same file never collide), until Ctrl-C; a round that ends with instances
  # in an unexpected state ends the run (the driver says which, in the log).
  (
    child=
    trap '[ -z "$child" ] || { kill "$child" 2>/dev/null; wait "$child"; }; exit 0' TERM
    while true; do
      node "$driver" load --store "sqlite:$db" --rate "${DUROXIDE_RATE:-10}" --duration 60m \
        --prefix "run$(date +%s)" --delete-every 20 --prune &
      child=$!
      wait "$child" || exit
    done
  ) >>.data/logs/duroxide.log 2>&1 &
  pids+=($!)
  bin/connector --source "sqlite:$db" >.data/logs/connector.log 2>&1 &
  pids+=($!)
  load="Duroxide    ${DUROXIDE_RATE:-10} instances/s on sqlite:$db (.data/logs/duroxide.log)
  connector   http://${DUROSCOPE_CONNECTOR_HTTP_ADDR:-127.0.0.1:8082}/metrics (.data/logs/connector.log)"
fi
cat <<MSG

Duroscope is running (logs in .data/logs/):
  query API   http://127.0.0.1:8080   e.g. curl -s localhost:8080/v1/health
  projector   http://127.0.0.1:8081/metrics
  NATS        nats://127.0.0.1:4222 (embedded JetStream)
  ClickHouse  $DUROSCOPE_CLICKHOUSE_ADDR, database duroscope
  $load
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
