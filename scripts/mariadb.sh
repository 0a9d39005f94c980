#!/usr/bin/env bash
# Starts a throwaway MariaDB server for the tests (data under target/mariadb, port 33069,
# loopback only) unless TEST_MARIADB_URL already names one, and exports TEST_MARIADB_URL.
# Source it: `source scripts/mariadb.sh`. Installs Debian's mariadb-server package first
# when it is missing and we are root. The server runs as the current user (as `mysql` when
# we are root: MariaDB refuses root); the tests log in as the user `attio` with a password
# over TCP (no grant tables skipped), root keeps socket-only login.
set -euo pipefail
if [ -n "${TEST_MARIADB_URL:-}" ]; then return 0 2>/dev/null || exit 0; fi
MARIADB_PORT="${MARIADB_PORT:-33069}"
if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "mariadb.sh: installing Debian's mariadb-server package" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  else
    echo "mariadb.sh: MariaDB is not installed: run 'sudo apt-get install mariadb-server' or set TEST_MARIADB_URL" >&2
    exit 1
  fi
fi
MARIADBD="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
MY_DIR="$(pwd)/target/mariadb"
MY_SOCK="$MY_DIR/mysqld.sock"
if [ "$(id -u)" = 0 ]; then MY_USER=mysql; else MY_USER="$(id -un)"; fi
as_my() { if [ "$(id -u)" = 0 ]; then runuser -u mysql -- "$@"; else "$@"; fi; }
# The client as the server's administrator: over the socket, the OS user is the login.
my_admin() { if [ "$(id -u)" = 0 ]; then mariadb --socket="$MY_SOCK" -u root "$@"; else mariadb --socket="$MY_SOCK" -u "$MY_USER" "$@"; fi; }
if ! mariadb-admin --socket="$MY_SOCK" -u "$MY_USER" ping >/dev/null 2>&1 &&
   ! my_admin -e 'select 1' >/dev/null 2>&1; then
  mkdir -p "$MY_DIR"
  [ "$(id -u)" = 0 ] && chown mysql "$MY_DIR"
  if [ ! -d "$MY_DIR/data/mysql" ]; then
    as_my mariadb-install-db --no-defaults --datadir="$MY_DIR/data" --user="$MY_USER" \
      --auth-root-authentication-method=socket --skip-test-db >"$MY_DIR/install.log" 2>&1 ||
      { cat "$MY_DIR/install.log" >&2; exit 1; }
  fi
  # Detached from this shell (setsid): the server outlives the script that sourced it.
  as_my setsid "$MARIADBD" --no-defaults --datadir="$MY_DIR/data" --socket="$MY_SOCK" \
    --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$MY_DIR/mariadbd.pid" --log-error="$MY_DIR/error.log" --max-connections=500 \
    --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M \
    --character-set-server=utf8mb4 \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 60); do
    my_admin -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  my_admin -e 'select 1' >/dev/null || { echo "mariadb.sh: the server did not start (see target/mariadb/error.log)" >&2; tail -20 "$MY_DIR/error.log" >&2; exit 1; }
  my_admin -e "create user if not exists 'attio'@'127.0.0.1' identified by 'attio'; grant all privileges on *.* to 'attio'@'127.0.0.1';"
fi
export TEST_MARIADB_URL="mysql://attio:attio@127.0.0.1:$MARIADB_PORT/mysql"
echo "mariadb.sh: TEST_MARIADB_URL=$TEST_MARIADB_URL" >&2
