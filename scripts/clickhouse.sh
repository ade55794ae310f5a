#!/usr/bin/env bash
# Runs a private ClickHouse server for development, tests and CI.
#   scripts/clickhouse.sh start   install (Debian) if missing, start, wait until it answers
#   scripts/clickhouse.sh stop    stop the server started by 'start'
#   scripts/clickhouse.sh status
# Its data, logs and config live under $DUROSCOPE_CH_DIR (default .data/clickhouse)
# so it never touches a system-wide installation; port $DUROSCOPE_CH_PORT (9000).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${DUROSCOPE_CH_DIR:-$PWD/.data/clickhouse}
port=${DUROSCOPE_CH_PORT:-9000}
pidfile=$dir/clickhouse.pid

install_if_missing() {
  if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
    echo "clickhouse: installing clickhouse-server and clickhouse-client from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
  fi
}

answers() { clickhouse-client --host 127.0.0.1 --port "$port" -q 'SELECT 1' >/dev/null 2>&1; }

write_config() {
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
  <tcp_port>$port</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_connections>512</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>200</max_concurrent_queries>
  <mark_cache_size>1073741824</mark_cache_size>
  <uncompressed_cache_size>1073741824</uncompressed_cache_size>
  <timezone>UTC</timezone>
</yandex>
XML
  cp "$(dirname "$0")/../schema/users.xml" "$dir/users.xml" 2>/dev/null || cp "$PWD/schema/users.xml" "$dir/users.xml"
}

case "${1:-start}" in
  start)
    if answers; then echo "clickhouse: already answering on 127.0.0.1:$port"; exit 0; fi
    install_if_missing
    write_config
    # Debian's package ships the server as one binary; run it in the background
    # with our config so nothing depends on systemd (absent in CI containers).
    # Its own session: a Ctrl-C in the terminal that started it must not stop
    # it before the processes writing to it (run-local.sh stops it last).
    setsid nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      if answers; then echo "clickhouse: up on 127.0.0.1:$port (data in $dir)"; exit 0; fi
      sleep 0.5
    done
    echo "clickhouse: did not answer within 60s; log:" >&2
    tail -n 30 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
      rm -f "$pidfile"
    fi
    ;;
  status)
    answers && echo "clickhouse: up on 127.0.0.1:$port" || { echo "clickhouse: down"; exit 1; }
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
