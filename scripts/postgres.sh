#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests (data under target/pg, port 54329,
# loopback only, trust auth) unless TEST_POSTGRES_URL already names one, and exports
# TEST_POSTGRES_URL. Source it: `source scripts/postgres.sh`. Installs Debian's postgresql
# package first when it is missing and we are root.
set -euo pipefail
if [ -n "${TEST_POSTGRES_URL:-}" ]; then return 0 2>/dev/null || exit 0; fi
PG_PORT="${PG_PORT:-54329}"
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "postgres.sh: installing Debian's postgresql package" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "postgres.sh: PostgreSQL is not installed: run 'sudo apt-get install postgresql' or set TEST_POSTGRES_URL" >&2
    exit 1
  fi
fi
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DIR="$(pwd)/target/pg"
# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
fi
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "postgres.sh: TEST_POSTGRES_URL=$TEST_POSTGRES_URL" >&2
