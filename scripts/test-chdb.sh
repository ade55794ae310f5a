#!/usr/bin/env bash
# The compatibility test on a current ClickHouse engine (internal/chcompat):
# Duroscope's real statements run in-process on libchdb (ClickHouse 26.5,
# npm package @chdb/lib-linux-x64-gnu) and on the ClickHouse 18.16 server at
# DUROSCOPE_TEST_CLICKHOUSE_ADDR, and every answer is compared. scripts/test.sh
# calls it with its server running; alone, start one first
# (scripts/clickhouse.sh start) and set the address.
#   scripts/test-chdb.sh            the test
#   scripts/test-chdb.sh -v         extra args go to 'go test'
# The library (a 166 MB download) is cached outside the repository, in
# ${DUROSCOPE_NPM_CACHE:-~/.cache/duroscope/npm}, and installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DUROSCOPE_TEST_CLICKHOUSE_ADDR:?set DUROSCOPE_TEST_CLICKHOUSE_ADDR to the ClickHouse 18.16 server (host:port)}"
export DUROSCOPE_TEST_CLICKHOUSE_ADDR
chdb_version=26.5.3
cache=${DUROSCOPE_NPM_CACHE:-$HOME/.cache/duroscope/npm}
lib=$cache/node_modules/@chdb/lib-linux-x64-gnu
installed=$(node -p "require('$lib/package.json').version" 2>/dev/null || true)
if [ ! -f "$lib/libchdb.so" ] || [ "$installed" != "$chdb_version" ]; then
  echo "test-chdb: installing @chdb/lib-linux-x64-gnu@$chdb_version into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
    "@chdb/lib-linux-x64-gnu@$chdb_version"
fi
# cgo links against the library and records its directory as the rpath, so
# the test binary finds it without LD_LIBRARY_PATH.
export CGO_ENABLED=1
export CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib ${CGO_LDFLAGS:-}"
go vet -tags chdb ./internal/chcompat/...
go test -tags chdb -count=1 -timeout 20m "$@" ./internal/chcompat/...
