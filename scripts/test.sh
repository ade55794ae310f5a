#!/usr/bin/env bash
# The one test command (README, .ci/run): starts a private ClickHouse
# (installing Debian's clickhouse-server if missing), runs every Go test
# against it and a real (embedded) JetStream server, then stops ClickHouse.
#   scripts/test.sh                 all tests
#   scripts/test.sh ./projection/... extra args go to 'go test'
set -euo pipefail
cd "$(dirname "$0")/.."
export DUROSCOPE_CH_DIR=${DUROSCOPE_CH_DIR:-$PWD/.data/clickhouse-test}
export DUROSCOPE_CH_PORT=${DUROSCOPE_CH_PORT:-19000}
export DUROSCOPE_TEST_CLICKHOUSE_ADDR=127.0.0.1:$DUROSCOPE_CH_PORT
started=0
if ! scripts/clickhouse.sh status >/dev/null 2>&1; then
  scripts/clickhouse.sh start
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then scripts/clickhouse.sh stop; fi; }
trap cleanup EXIT
if [ $# -eq 0 ]; then set -- ./...; fi
go vet "$@"
go test -count=1 -timeout 45m "$@"
