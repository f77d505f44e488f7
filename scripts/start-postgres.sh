#!/usr/bin/env bash
# Start a private PostgreSQL server on 127.0.0.1 for the result store's tests (idempotent).
#
#   scripts/start-postgres.sh            # prints the URL on stdout
#   eval "$(scripts/start-postgres.sh --export)"   # exports RESNET_BENCH_TEST_PG_URL
#   scripts/start-postgres.sh --stop     # stops the server (the data folder is kept)
#
# Installs Debian's postgresql when no server binaries are found, then runs its own
# cluster in $RESNET_BENCH_PG_DATA (not the distribution's cluster, so nothing system-wide
# is reconfigured), listening on 127.0.0.1:$RESNET_BENCH_PG_PORT only, with its socket in
# the data folder. Creates role and database "resnet_bench" (password "resnet_bench":
# a throwaway server for tests on loopback, never a shared one). Progress goes to stderr.
set -euo pipefail

PORT="${RESNET_BENCH_PG_PORT:-54329}"
DATA="${RESNET_BENCH_PG_DATA:-/tmp/resnet-bench-pg}"
NAME=resnet_bench
URL="postgresql+psycopg://${NAME}:${NAME}@127.0.0.1:${PORT}/${NAME}"

log() { echo "start-postgres: $*" >&2; }

find_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"; return; fi
    if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        pg_config --bindir; return
    fi
    if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; fi
}

BIN=$(find_bindir)
if [[ -z "$BIN" ]]; then
    log "no PostgreSQL server found; installing Debian's postgresql"
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
    BIN=$(find_bindir)
    [[ -n "$BIN" ]] || { log "installation gave no initdb"; exit 1; }
fi

# initdb and postgres refuse to run as root: use the distribution's postgres user then.
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    as_owner() { runuser -u postgres -- "$@"; }
    mkdir -p "$DATA" && chown postgres: "$DATA"
else
    as_owner() { "$@"; }
    mkdir -p "$DATA"
fi
chmod 700 "$DATA"

if [[ "${1:-}" == "--stop" ]]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 && as_owner "$BIN/pg_ctl" -D "$DATA" -w stop >&2
    exit 0
fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initialising a cluster in $DATA"
    # trust only on the private socket (folder mode 700); TCP needs the password.
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "starting the server on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off" start >/dev/null \
        || { log "the server did not start; see $DATA/server.log"; tail -n 20 "$DATA/server.log" >&2; exit 1; }
fi

psql_super() { as_owner "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -d postgres -qtA -v ON_ERROR_STOP=1 "$@"; }
if [[ -z "$(psql_super -c "SELECT 1 FROM pg_roles WHERE rolname = '$NAME'")" ]]; then
    psql_super -c "CREATE ROLE $NAME LOGIN PASSWORD '$NAME' CREATEDB"
fi
if [[ -z "$(psql_super -c "SELECT 1 FROM pg_database WHERE datname = '$NAME'")" ]]; then
    psql_super -c "CREATE DATABASE $NAME OWNER $NAME"
fi

if [[ "${1:-}" == "--export" ]]; then
    echo "export RESNET_BENCH_TEST_PG_URL='$URL'"
else
    echo "$URL"
fi
