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
# The dashboard's browser test (internal/e2e/dashboard_test.go) needs
# Debian's Chromium and internal/web/e2e's playwright-core: install them if missing,
# and make that test fail, not skip, when they are still not there.
if [ ! -x /usr/bin/chromium ]; then
  echo "test: installing chromium from Debian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f internal/web/e2e/node_modules/playwright-core/package.json ]; then
  (cd internal/web/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
export DUROSCOPE_REQUIRE_BROWSER=1
# The connector's tests run a private PostgreSQL 15 (Debian's postgresql,
# started and stopped by internal/testenv) and a real Duroxide: the npm
# addon duroxide-linux-x64-gnu, installed by internal/duroxide into
# ~/.cache/duroscope/npm when missing. Both are required here, never skipped.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "test: installing postgresql from Debian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
export DUROSCOPE_REQUIRE_POSTGRES=1 DUROSCOPE_REQUIRE_DUROXIDE=1
# promtool (Debian's prometheus package; its daemon is not started here)
# checks deploy/prometheus's alert rules (internal/e2e TestMonitoringAssets).
if ! command -v promtool >/dev/null 2>&1; then
  echo "test: installing prometheus (for promtool) from Debian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
export DUROSCOPE_REQUIRE_PROMTOOL=1
# Extra args go to 'go test' (flags and packages); 'go vet' gets only the
# packages among them. No packages given: all of them.
pkgs=()
for a in "$@"; do
  case $a in ./*) pkgs+=("$a") ;; esac
done
if [ ${#pkgs[@]} -eq 0 ]; then
  pkgs=(./...)
  set -- "$@" ./...
fi
go vet "${pkgs[@]}"
# The module is tidy: go.mod lists exactly the dependencies the code uses,
# direct ones as direct.
go mod tidy -diff
# staticcheck, installed from the Go module proxy when missing (cached in
# GOPATH/bin). The version is pinned: a new release can add checks.
staticcheck_version=v0.8.2
staticcheck=$(go env GOPATH)/bin/staticcheck
if ! "$staticcheck" -version 2>/dev/null | grep -q "${staticcheck_version#v}"; then
  echo "test: installing staticcheck $staticcheck_version" >&2
  GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi
"$staticcheck" "${pkgs[@]}"
# The race detector on the packages whose code runs concurrently: the
# projector's pipeline and instance cache, the query service's admission
# (httpapi), the watermark cache, the change feed. A separate step: -race slows everything
# else for nothing.
if [ "${pkgs[*]}" = ./... ]; then
  go test -race -count=1 -timeout 30m ./internal/projector/... ./internal/httpapi/... ./internal/watermark/... ./internal/changes/...
fi
go test -count=1 -timeout 45m "$@"
# Every statement of the read model on a current ClickHouse (26.5, in
# process through chDB; cgo and a build tag, so the steps above stay
# cgo-free): docs/clickhouse-versions.md.
if [ "${pkgs[*]}" = ./... ]; then
  scripts/test-chdb.sh
fi
