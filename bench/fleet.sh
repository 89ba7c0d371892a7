#!/usr/bin/env bash
# A fleet on one machine: a primary PostgreSQL and a streaming replica of it, pgbouncer in
# transaction pooling in front of the primary, three `wartawa serve` processes, HAProxy in front of
# them. An on-sale runs through HAProxy; in the middle of it one process is killed with SIGKILL and
# started again on the same port. Then the books are verified on the primary, and so is every
# answer the buyers were given. From the repository root:
#
#     bash bench/fleet.sh
#
# What each process is given: DATABASE_URL = pgbouncer, DATABASE_DIRECT_URL = the primary
# (migrations and the live seat map's LISTEN need a session), DATABASE_POOL_MODE=transaction (no
# prepared statements kept, no startup options: WarTawa sets its timeouts per transaction),
# DATABASE_READ_URL = the replica with READ_REPLICA_MAX_LAG_MS (event lists, event details and seat
# maps are read there while it is fresh).
#
# The buyers are a small python3 program written by this script (the load generator neither sends
# Idempotency-Key nor retries an answer lost to a kill; bash and curl fork too much for two cores,
# see write_buyers_program). Each buyer loops: books 1-3 seats free on the seat map it read, pays.
# Every POST carries a fresh Idempotency-Key, and while its answer is lost (no answer, 502/503/504, or a
# 409 idempotency_in_progress) the same POST with the SAME key is sent again, for at most
# FLEET_RETRY_SECONDS. Afterwards, on the primary: the books agree (no seat in two open bookings,
# phase counters, event figures, payments), every 201 and every payment's 200 a buyer was told is
# stored, every key told a 201 holds that same answer, and no customer has more bookings than keys
# that could have made them (no retry booked twice). Any 500 (any 5xx but HAProxy's 502/503/504
# and WarTawa's documented 503), any violation, any lost booking or payment: exit status 1.
#
# Then, unless FLEET_SOLO_SECONDS=0, the same buyers against one process directly (the same
# process settings, no HAProxy, no kill) on a fresh event, for a single-process figure of the
# same run. And, unless FLEET_LOADGEN_ROUNDS=0, the load generator's on-sale (64 buyers, sales of
# 1000 seats, no kill), through HAProxy, then against one process directly, then against that
# process restarted straight on the primary (session mode, no pgbouncer): a Rust client offers
# more than the python buyers can, which share the two cores with everything else.
#
# Reported: paid bookings/s before and after the kill, the requests the kill cut and how their
# retries ended, a table of every status the buyers saw, the replica's lag (sampled every
# FLEET_LAG_SAMPLE_MS on both servers: bytes and replay lag from the primary's
# pg_stat_replication, now() - pg_last_xact_replay_timestamp() on the replica), the reads the
# replica served (its pg_stat_database and each process's /metrics), each process's /ready,
# HAProxy's retries and redispatches, pgbouncer's pools, CPU by component, warnings of the logs.
# Results: bench/results/<UTC stamp>-fleet/ (summary.md, the configs, every log).
#
# Knobs (environment):
#   FLEET_PG_BIN (/usr/lib/postgresql/15/bin), FLEET_PRIMARY_PORT (25432),
#   FLEET_REPLICA_PORT (25433), FLEET_PGBOUNCER_PORT (26432), FLEET_HAPROXY_PORT (18600),
#   FLEET_HAPROXY_STATS_PORT (18609), FLEET_APP_PORTS ("18601 18602 18603": one process each),
#   FLEET_POOL_SIZE (DATABASE_POOL_SIZE of each process, 6), FLEET_PGBOUNCER_POOL
#   (default_pool_size, 20), FLEET_MAX_LAG_MS (READ_REPLICA_MAX_LAG_MS, 1000),
#   FLEET_BUYERS (32), FLEET_SEATS (seats of each event, 8000),
#   FLEET_SECONDS_BEFORE_KILL (5), FLEET_SECONDS_DOWN (2: killed to restarted),
#   FLEET_SECONDS_AFTER_RESTART (6: of sale once the process answers /ready again),
#   FLEET_KILL (which process is killed, 1-based, 2), FLEET_RETRY_SECONDS (15),
#   FLEET_SOLO_SECONDS (8; 0 = no single-process run), FLEET_LOADGEN_ROUNDS (2 sales of 1000
#   seats each way; 0 = none), FLEET_LOADGEN_CLIENTS (64), FLEET_LAG_SAMPLE_MS (200),
#   FLEET_PG_FSYNC (on), FLEET_RUST_LOG (warn), FLEET_SKIP_BUILD=1 (use target/release as it is),
#   FLEET_KEEP_WORK=1 (keep the temporary directory, clusters stopped, for a look afterwards).
# Only loopback is used; every process started here is stopped on exit, whatever happens, and the
# temporary directory is removed. The shared PostgreSQL on 5432 is not touched.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

PG_BIN=${FLEET_PG_BIN:-/usr/lib/postgresql/15/bin}
PRIMARY_PORT=${FLEET_PRIMARY_PORT:-25432}
REPLICA_PORT=${FLEET_REPLICA_PORT:-25433}
PGBOUNCER_PORT=${FLEET_PGBOUNCER_PORT:-26432}
HAPROXY_PORT=${FLEET_HAPROXY_PORT:-18600}
HAPROXY_STATS_PORT=${FLEET_HAPROXY_STATS_PORT:-18609}
read -r -a APP_PORTS <<< "${FLEET_APP_PORTS:-18601 18602 18603}"
POOL_SIZE=${FLEET_POOL_SIZE:-6}
PGBOUNCER_POOL=${FLEET_PGBOUNCER_POOL:-20}
MAX_LAG_MS=${FLEET_MAX_LAG_MS:-1000}
BUYERS=${FLEET_BUYERS:-32}
SEATS=${FLEET_SEATS:-8000}
SECONDS_BEFORE_KILL=${FLEET_SECONDS_BEFORE_KILL:-5}
SECONDS_DOWN=${FLEET_SECONDS_DOWN:-2}
SECONDS_AFTER_RESTART=${FLEET_SECONDS_AFTER_RESTART:-6}
KILL=${FLEET_KILL:-2}
RETRY_SECONDS=${FLEET_RETRY_SECONDS:-15}
SOLO_SECONDS=${FLEET_SOLO_SECONDS:-8}
LOADGEN_ROUNDS=${FLEET_LOADGEN_ROUNDS:-2}
LOADGEN_CLIENTS=${FLEET_LOADGEN_CLIENTS:-64}
LAG_SAMPLE_MS=${FLEET_LAG_SAMPLE_MS:-200}
PG_FSYNC=${FLEET_PG_FSYNC:-on}
SERVER_LOG_LEVEL=${FLEET_RUST_LOG:-warn}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/bench/results/$STAMP-fleet"
SERVER_BIN="$ROOT/target/release/wartawa"
LOADGEN="$ROOT/target/release/loadgen"
DB=wartawa_fleet
ROLE=wartawa
ADMIN_EMAIL=admin@fleet.test
ADMIN_PASSWORD=fleet-admin-password-1
JWT_SECRET=fleet-jwt-secret-0123456789abcdef0123456789abcdef
TICKET_SIGNING_KEY=ZmxlZXQtdGlja2V0LXNpZ25pbmcta2V5LTAxMjM0NTY=
HAPROXY_BASE="http://127.0.0.1:$HAPROXY_PORT"
PRIMARY_URL="postgres://$ROLE@127.0.0.1:$PRIMARY_PORT/$DB"
REPLICA_URL="postgres://$ROLE@127.0.0.1:$REPLICA_PORT/$DB"
PGBOUNCER_URL="postgres://$ROLE@127.0.0.1:$PGBOUNCER_PORT/$DB"
RUN_TAG=$STAMP-$$

WORK=""
APP_PIDS=()
BUYER_PIDS=()
SAMPLER_PIDS=()
HAPROXY_PID=""
PGBOUNCER_PID=""
CLUSTERS_STARTED=()
FAILED=0

# ---------------------------------------------------------------------------------------------
# Small helpers

say() { printf '=== %s [%s, load %s]\n' "$*" "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.log"; }
problem() { echo "*** $*" | tee -a "$OUT/run.log" >&2; FAILED=1; }
die() { echo "*** $*" | tee -a "$OUT/run.log" >&2; exit 1; }

# as_postgres CMD...: PostgreSQL's tools refuse to run as root; as root they run as postgres.
as_postgres() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# psql_at PORT DB SQL: one query on a cluster of ours as its superuser, unaligned, no header.
psql_at() { psql -X -q -h 127.0.0.1 -p "$1" -U postgres -d "$2" -v ON_ERROR_STOP=1 -Atc "$3"; }

port_in_use() { ss -Htln "sport = :$1" | grep -q .; }

# wait_for WHAT SECONDS CMD...: runs CMD every 0.25 s until it succeeds, at most SECONDS.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq 1 $((seconds * 4))); do
        "$@" > /dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "$what: not within $seconds s"
}

# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS; only processes started here.
stop_pid() {
    local pid=$1 seconds=$2
    [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null || return 0
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 $((seconds * 4))); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.25
    done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
}

cleanup() {
    local status=$?
    set +e
    for pid in "${BUYER_PIDS[@]}"; do kill -KILL "$pid" 2> /dev/null; done
    for pid in "${BUYER_PIDS[@]}"; do wait "$pid" 2> /dev/null; done
    stop_lag_samplers
    stop_pid "$HAPROXY_PID" 5
    for pid in "${APP_PIDS[@]}"; do stop_pid "$pid" 10; done
    stop_pid "$PGBOUNCER_PID" 5
    # The replica before the primary, so that it does not wait for it.
    for ((i = ${#CLUSTERS_STARTED[@]} - 1; i >= 0; i--)); do
        as_postgres "$PG_BIN/pg_ctl" -D "${CLUSTERS_STARTED[i]}" -m fast -t 30 -w stop > /dev/null 2>&1 \
            || as_postgres "$PG_BIN/pg_ctl" -D "${CLUSTERS_STARTED[i]}" -m immediate -t 10 -w stop > /dev/null 2>&1
    done
    if [[ -n $WORK && -d $WORK ]]; then
        # The logs are worth keeping beside the results.
        cp "$WORK"/pg/*.log "$WORK"/pgbouncer/pgbouncer.log "$OUT/" 2> /dev/null
        if [[ ${FLEET_KEEP_WORK:-0} == 1 ]]; then
            echo "temporary directory kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$status"
}

# ---------------------------------------------------------------------------------------------
# Pre-flight

check_tools() {
    local missing=()
    for tool in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/pg_basebackup" /usr/sbin/pgbouncer /usr/sbin/haproxy; do
        [[ -x $tool ]] || missing+=("$tool")
    done
    for tool in psql curl jq python3 ss awk timeout; do
        command -v "$tool" > /dev/null || missing+=("$tool")
    done
    [[ $(id -u) != 0 ]] || command -v runuser > /dev/null || missing+=(runuser)
    ((${#missing[@]} == 0)) || die "missing: ${missing[*]}"
    ((${#APP_PORTS[@]} == 3)) || die "FLEET_APP_PORTS must name three ports"
    ((KILL >= 1 && KILL <= 3)) || die "FLEET_KILL must be 1, 2 or 3"
    for port in "$PRIMARY_PORT" "$REPLICA_PORT" "$PGBOUNCER_PORT" "$HAPROXY_PORT" "$HAPROXY_STATS_PORT" "${APP_PORTS[@]}"; do
        ! port_in_use "$port" || die "port $port is in use (see the FLEET_*_PORT knobs)"
    done
}

build_release() {
    if [[ ${FLEET_SKIP_BUILD:-0} != 1 ]]; then
        say "cargo build --release -p bootstrap -p wartawa-loadgen"
        cargo build --release -p bootstrap -p wartawa-loadgen 2>&1 | tail -n 3 | tee -a "$OUT/run.log"
    fi
    [[ -x $SERVER_BIN ]] || die "$SERVER_BIN is missing (build it, or unset FLEET_SKIP_BUILD)"
}

# The settings this script relies on must exist in the binary.
check_server_settings() {
    local help missing=()
    help=$("$SERVER_BIN" serve --help 2>&1)
    for setting in DATABASE_DIRECT_URL DATABASE_POOL_MODE DATABASE_READ_URL READ_REPLICA_MAX_LAG_MS DATABASE_POOL_SIZE; do
        grep -q "$setting" <<< "$help" || missing+=("$setting")
    done
    ((${#missing[@]} == 0)) || die "$SERVER_BIN serve does not know ${missing[*]}: build a WarTawa that has them"
}

machine_info() {
    echo "stamp: $STAMP"
    echo "commit: $(git rev-parse --short HEAD 2> /dev/null || echo unknown)$(git diff --quiet 2> /dev/null || echo ' (with uncommitted changes)')"
    echo "nproc: $(nproc)"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "postgres: $("$PG_BIN/postgres" --version)"
    echo "pgbouncer: $(/usr/sbin/pgbouncer --version | head -n 1)"
    echo "haproxy: $(/usr/sbin/haproxy -v | head -n 1)"
    echo "wartawa: $SERVER_BIN, $(stat -c %y "$SERVER_BIN")"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: a primary and a streaming replica

start_cluster() {
    local data=$1 port=$2
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$WORK/pg/$(basename "$data").log" -w -t 60 \
        -o "-p $port" start > /dev/null
    CLUSTERS_STARTED+=("$data")
}

make_primary() {
    local data=$WORK/pg/primary
    as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --no-locale -E UTF8 --no-sync > "$WORK/pg/initdb.out"
    cat >> "$data/postgresql.conf" <<EOF
# bench/fleet.sh
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$WORK/pg'
max_connections = 100
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
hot_standby = on
fsync = $PG_FSYNC
EOF
    start_cluster "$data" "$PRIMARY_PORT"
    # The role WarTawa connects as. In transaction mode WarTawa sets its timeouts per transaction
    # (SET LOCAL); the role's defaults bound any session that does not (psql, the replica's reads).
    psql_at "$PRIMARY_PORT" postgres "CREATE ROLE $ROLE LOGIN"
    psql_at "$PRIMARY_PORT" postgres "ALTER ROLE $ROLE SET lock_timeout = '3s'"
    psql_at "$PRIMARY_PORT" postgres "ALTER ROLE $ROLE SET statement_timeout = '15s'"
    psql_at "$PRIMARY_PORT" postgres "ALTER ROLE $ROLE SET random_page_cost = 1.1"
    psql_at "$PRIMARY_PORT" postgres "CREATE DATABASE $DB OWNER $ROLE"
}

replica_streaming() {
    [[ $(psql_at "$PRIMARY_PORT" postgres "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1 ]]
}

make_replica() {
    local data=$WORK/pg/replica
    as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$data" \
        -R -X stream -C -S fleet_replica -c fast --no-sync > "$WORK/pg/basebackup.out" 2>&1
    cat >> "$data/postgresql.conf" <<EOF
# bench/fleet.sh: the replica
port = $REPLICA_PORT
hot_standby_feedback = on
EOF
    start_cluster "$data" "$REPLICA_PORT"
    wait_for "the replica streaming from the primary" 30 replica_streaming
}

# ---------------------------------------------------------------------------------------------
# pgbouncer and HAProxy

start_pgbouncer() {
    local dir=$WORK/pgbouncer
    install -d -o postgres -m 700 "$dir" 2> /dev/null || mkdir -p "$dir"
    printf '"%s" ""\n"postgres" ""\n' "$ROLE" > "$dir/userlist.txt"
    cat > "$dir/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=$PRIMARY_PORT dbname=$DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
stats_users = postgres
pool_mode = transaction
default_pool_size = $PGBOUNCER_POOL
max_client_conn = 400
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    [[ $(id -u) == 0 ]] && chown -R postgres "$dir"
    cp "$dir/pgbouncer.ini" "$OUT/pgbouncer.ini"
    as_postgres /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini"
    wait_for "pgbouncer's pid file" 10 test -s "$dir/pgbouncer.pid"
    PGBOUNCER_PID=$(cat "$dir/pgbouncer.pid")
    wait_for "a query through pgbouncer" 10 psql -X -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U "$ROLE" -d "$DB" -Atc 'select 1'
}

start_haproxy() {
    local dir=$WORK/haproxy n
    mkdir -p "$dir"
    {
        cat <<EOF
global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    # A request that never reached a process (connection refused: the killed one) goes to
    # another; one whose process died before answering (empty response) too, but only when it is
    # a GET or a POST carrying an Idempotency-Key (see the backend): a retried POST without a key
    # could book twice. A keyed POST retried so may find its key still held by the dead attempt
    # (409 idempotency_in_progress), which the buyer sends again.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option forwardfor

frontend fleet
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend wartawa

backend wartawa
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
    http-request disable-l7-retry if METH_POST !{ req.hdr(idempotency-key) -m found }
    default-server inter 500ms fall 2 rise 2
EOF
        for n in 1 2 3; do
            echo "    server app$n 127.0.0.1:${APP_PORTS[n - 1]} check"
        done
        cat <<EOF

listen stats
    bind 127.0.0.1:$HAPROXY_STATS_PORT
    stats enable
    stats uri /stats
EOF
    } > "$dir/haproxy.cfg"
    cp "$dir/haproxy.cfg" "$OUT/haproxy.cfg"
    /usr/sbin/haproxy -c -q -f "$dir/haproxy.cfg" || die "HAProxy refuses its configuration"
    /usr/sbin/haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid"
    wait_for "HAProxy's pid file" 10 test -s "$dir/haproxy.pid"
    HAPROXY_PID=$(head -n 1 "$dir/haproxy.pid")
}

haproxy_stats() { curl -s -m 5 "http://127.0.0.1:$HAPROXY_STATS_PORT/stats;csv"; }

# haproxy_servers_up: how many of the three servers HAProxy's checks find UP.
haproxy_servers_up() { haproxy_stats | awk -F, '$1 == "wartawa" && $2 ~ /^app/ && $18 ~ /^UP/' | wc -l; }

all_servers_up() { [[ $(haproxy_servers_up) == 3 ]]; }

# ---------------------------------------------------------------------------------------------
# The WarTawa processes

# start_app N [VAR=value ...]: process N (1-3) on its port, from a directory of its own (no .env of
# the tree), in a clean environment, the given settings over the fleet's; appends to its log; waits
# for /ready.
start_app() {
    local n=$1 port=${APP_PORTS[$1 - 1]} dir=$WORK/app$1
    shift
    mkdir -p "$dir"
    (
        cd "$dir"
        exec env -i PATH="$PATH" HOME="$dir" \
            APP_HOST=127.0.0.1 APP_PORT="$port" RUST_LOG="$SERVER_LOG_LEVEL" LOG_FORMAT=json \
            DATABASE_URL="$PGBOUNCER_URL" \
            DATABASE_DIRECT_URL="$PRIMARY_URL" \
            DATABASE_POOL_MODE=transaction \
            DATABASE_READ_URL="$REPLICA_URL" \
            READ_REPLICA_MAX_LAG_MS="$MAX_LAG_MS" \
            DATABASE_POOL_SIZE="$POOL_SIZE" \
            JWT_SECRET="$JWT_SECRET" TICKET_SIGNING_KEY="$TICKET_SIGNING_KEY" \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" BCRYPT_COST=4 \
            MAX_TICKETS_PER_USER=0 BOOKINGS_PER_CUSTOMER=0 IDEMPOTENCY_KEYS_PER_USER=0 \
            LOGIN_ATTEMPTS_PER_ADDRESS=0 REGISTRATIONS_PER_ADDRESS=0 MAX_CONNECTIONS_PER_ADDRESS=0 \
            TRUSTED_PROXIES=127.0.0.1 DRAIN_SECS=1 "$@" \
            "$SERVER_BIN" serve
    ) >> "$OUT/server-app$n.log" 2>&1 &
    APP_PIDS[n - 1]=$!
    for _ in $(seq 1 240); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && return 0
        kill -0 "${APP_PIDS[n - 1]}" 2> /dev/null || { tail -n 20 "$OUT/server-app$n.log" >&2; die "process $n died at start-up"; }
        sleep 0.25
    done
    die "process $n did not answer /ready within 60 s"
}

# kill_app N: SIGKILL to process N the moment HAProxy has a request in flight there (a few hundred
# looks at most), so that the kill is likely to cut one.
kill_app() {
    local n=$1
    for _ in $(seq 1 300); do
        (($(haproxy_stats | awk -F, -v s="app$n" '$1 == "wartawa" && $2 == s {print $5 + 0}') > 0)) && break
    done
    kill -KILL "${APP_PIDS[n - 1]}"
    wait "${APP_PIDS[n - 1]}" 2> /dev/null || true
    echo "--- killed with SIGKILL by bench/fleet.sh at $(date -u +%H:%M:%S.%N) ---" >> "$OUT/server-app$n.log"
}

# ---------------------------------------------------------------------------------------------
# HTTP, for the set-up

# http METHOD URL TOKEN BODY: one request of the set-up; sets STATUS (000 when no answer came) and
# BODY.
http() {
    local args=(-s -m 10 -o "$REPLY_FILE" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json')
    [[ -n $3 ]] && args+=(-H "Authorization: Bearer $3")
    [[ -n $4 ]] && args+=(--data "$4")
    : > "$REPLY_FILE"
    STATUS=$(curl "${args[@]}" "$2" 2> /dev/null) || true
    BODY=$(< "$REPLY_FILE")
}

login() {
    http POST "$HAPROXY_BASE/api/users/login" "" "{\"email\":\"$1\",\"password\":\"$2\"}"
    [[ $STATUS == 200 ]] || die "login of $1: $STATUS $BODY"
    jq -r .token <<< "$BODY"
}

in_days() { date -u -d "$1 days" +%Y-%m-%dT%H:%M:%SZ; }

# create_event NAME: an event of $SEATS seats on sale now, one phase; prints "EVENT_ID PHASE_ID".
create_event() {
    http POST "$HAPROXY_BASE/api/events" "$ADMIN" "{\"name\":\"$1\",\"date\":\"$(in_days 30)\",
        \"venue\":\"Loopback Hall\",\"capacity\":$SEATS,\"seats_per_row\":50,\"phases\":[
        {\"name\":\"Normal\",\"price\":100000,\"quota\":$SEATS,\"start_date\":\"$(in_days -1)\",\"end_date\":\"$(in_days 29)\"}]}"
    [[ $STATUS == 201 ]] || die "creating the event: $STATUS $BODY"
    jq -r '"\(.id) \(.phases[0].id)"' <<< "$BODY"
}

register_buyers() {
    local n email
    TOKENS=()
    for n in $(seq 1 "$BUYERS"); do
        email="buyer$n@fleet.test"
        http POST "$HAPROXY_BASE/api/users" "" "{\"name\":\"Fleet Buyer $n\",\"email\":\"$email\",\"password\":\"buyer-pass-1\"}"
        [[ $STATUS == 201 ]] || die "registering $email: $STATUS $BODY"
        TOKENS+=("$(login "$email" buyer-pass-1)")
        [[ -n ${TOKENS[n - 1]} && ${TOKENS[n - 1]} != null ]] || die "no token for $email"
    done
}

# The buyers: one python3 process (standard library only), a thread per buyer, each a customer of
# its own on a kept-alive connection. Bash and curl cost a fork per request: with them the buyers
# took 1.8 of the two cores and offered 15 paid bookings/s, which the fleet served with 0.06 of a
# core. Each buyer loops: books 1-3 seats it believes free, pays; it reads the seat map at most
# once a second (or after a 409 naming taken seats), as a page showing the map would. Every POST
# carries a fresh Idempotency-Key and is sent again with the same key while its answer is lost:
# no answer (connection refused or reset, timeout), 502/503/504, or 409 idempotency_in_progress,
# for at most $RETRY_SECONDS. Files of $WORK/sale-LABEL, a line each, one file per buyer:
#   attempts.N  "<epoch> <map|book|pay> <status> <reason>"  every request (status 000: no answer)
#   outcomes.N  "<epoch> <book|pay> <key> <status>/<reason> <tries> <lost> <code|->"  every keyed
#               POST, as it ended (lost = 1 when an answer was lost on the way and the key sent
#               again; code: the booking a payment was for)
#   told.N      "<epoch> <booked|paid> <code> <key>"  every 201 of a booking and 200 of a payment
write_buyers_program() {
    cat > "$WORK/buyers.py" << 'PY'
import http.client, json, os, random, re, sys, threading, time

host, port, event, phase, tokens_file, out, seconds, retry_seconds, tag = sys.argv[1:10]
port, event, phase = int(port), int(event), int(phase)
deadline = time.time() + float(seconds)
retry_seconds = float(retry_seconds)
stop_file = os.path.join(out, "stop")
tokens = [line.strip() for line in open(tokens_file) if line.strip()]
AVAILABLE = re.compile(rb'\{"id":(\d+),[^{}]*?"status":"available"')
label = os.path.basename(out).split("-", 1)[1]

def stopping():
    return time.time() >= deadline or os.path.exists(stop_file)

class Buyer:
    def __init__(self, n, token):
        self.n, self.token, self.seq, self.conn = n, token, 0, None
        self.files = {name: open(os.path.join(out, f"{name}.{n}"), "a", buffering=1)
                      for name in ("attempts", "outcomes", "told")}

    def request(self, method, path, body=None, key=None):
        """(status, reason, body bytes); status 0 when no answer came."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(host, port, timeout=10)
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close(); self.conn = None
        except Exception:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, "-", b""
        reason = "-"
        if status >= 300:
            try:
                reason = json.loads(data).get("error") or "-"
            except Exception:
                pass
        return status, reason, data

    def log(self, name, line):
        self.files[name].write(f"{time.time():.6f} {line}\n")

    def post_keyed(self, kind, path, body, code="-"):
        self.seq += 1
        key = f"fleet-{tag}-{label}-{self.n}-{kind}-{self.seq}"
        give_up, tries, lost = time.time() + retry_seconds, 0, 0
        while True:
            tries += 1
            status, reason, data = self.request("POST", path, body, key)
            self.log("attempts", f"{kind} {status:03d} {reason}")
            answer_lost = status in (0, 502, 503, 504) or (status == 409 and reason == "idempotency_in_progress")
            if not answer_lost or time.time() >= give_up:
                break
            lost = 1
            time.sleep(0.2)
        self.log("outcomes", f"{kind} {key} {status:03d}/{reason} {tries} {lost} {code}")
        return key, status, data

    def run(self):
        free, read_at = [], 0.0
        while not stopping():
            if time.time() - read_at >= 1.0 or not free:
                status, reason, data = self.request("GET", f"/api/events/{event}/seats")
                self.log("attempts", f"map {status:03d} {reason}")
                if status != 200:
                    time.sleep(0.2)
                    continue
                free = [int(i) for i in AVAILABLE.findall(data)]
                read_at = time.time()
                if not free:
                    self.log("attempts", "sold-out")
                    return
            seats = sorted(random.sample(free, min(len(free), random.randint(1, 3))))
            key, status, data = self.post_keyed("book", "/api/bookings",
                {"event_id": event, "seat_ids": seats, "phase_id": phase, "quantity": len(seats)})
            taken = set(seats)
            if status == 409:
                try:
                    taken |= set(json.loads(data).get("details") or [])
                except Exception:
                    pass
                read_at = 0.0
            free = [seat for seat in free if seat not in taken]
            if status != 201:
                continue
            booking = json.loads(data)
            code = booking["booking_code"]
            self.log("told", f"booked {code} {key}")
            key, status, _ = self.post_keyed("pay", f"/api/bookings/{code}/pay",
                {"amount": booking["total_price"], "method": "BCA Virtual Account"}, code)
            if status == 200:
                self.log("told", f"paid {code} {key}")

threads = [threading.Thread(target=Buyer(n + 1, token).run, daemon=True) for n, token in enumerate(tokens)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
PY
}

# start_buyers LABEL BASE_PORT EVENT PHASE SECONDS: the buyers against 127.0.0.1:BASE_PORT, in the
# background, for at most SECONDS (plus the time their last retries may take).
start_buyers() {
    local label=$1 port=$2 event=$3 phase=$4 seconds=$5
    mkdir -p "$WORK/sale-$label"
    printf '%s\n' "${TOKENS[@]}" > "$WORK/tokens"
    python3 "$WORK/buyers.py" 127.0.0.1 "$port" "$event" "$phase" "$WORK/tokens" "$WORK/sale-$label" \
        "$seconds" "$RETRY_SECONDS" "$RUN_TAG" 2> "$OUT/$label-buyers.err" &
    BUYER_PIDS=($!)
}

# stop_buyers LABEL: asks them to stop after their purchase in progress; waits for that purchase's
# retries at most, then kills what is left.
stop_buyers() {
    local label=$1
    touch "$WORK/sale-$label/stop"
    for _ in $(seq 1 $(((RETRY_SECONDS * 2 + 25) * 4))); do
        local alive=0
        for pid in "${BUYER_PIDS[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
        ((alive)) || break
        sleep 0.25
    done
    for pid in "${BUYER_PIDS[@]}"; do
        if kill -0 "$pid" 2> /dev/null; then
            problem "buyer (pid $pid) still busy $((RETRY_SECONDS * 2 + 25)) s after the stop: killed"
            kill -KILL "$pid" 2> /dev/null || true
        fi
        wait "$pid" 2> /dev/null || true
    done
    BUYER_PIDS=()
    cat "$WORK/sale-$label"/attempts.* 2> /dev/null | sort -n > "$OUT/$label-attempts.txt" || true
    cat "$WORK/sale-$label"/outcomes.* 2> /dev/null | sort -n > "$OUT/$label-outcomes.txt" || true
    cat "$WORK/sale-$label"/told.* 2> /dev/null | sort -n > "$OUT/$label-told.txt" || true
    [[ ! -s $OUT/$label-buyers.err ]] || problem "the buyers' program complained: $(head -c 300 "$OUT/$label-buyers.err")"
}

# ---------------------------------------------------------------------------------------------
# Watching: replica lag, replica reads, CPU

# start_lag_samplers SECONDS: one psql session on each server, its query repeated every
# $LAG_SAMPLE_MS (\watch) for at most SECONDS: on the primary "<epoch> <bytes the replica has not
# replayed> <replay_lag ms>" (pg_stat_replication) into $WORK/lag-primary.txt, on the replica
# "<epoch> <ms since the last replayed commit>" into $WORK/lag-replica.txt. One session each, not
# a connection per sample: on two cores a psql and a backend forked 10 times a second would count.
# And twice a second what a process that is not killed believes (its /ready): "<epoch> <status>
# <lag_ms>" into $WORK/lag-wartawa.txt.
start_lag_samplers() {
    local seconds=$1 interval
    interval=$(awk -v ms="$LAG_SAMPLE_MS" 'BEGIN {printf "%.3f", ms / 1000}')
    printf '%s\n\\watch %s\n' "SELECT extract(epoch FROM clock_timestamp()),
        coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
        round(coalesce(extract(epoch FROM replay_lag) * 1000, 0), 2) FROM pg_stat_replication" "$interval" \
        | timeout "$seconds" psql -X -q -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -At -F ' ' \
            > "$WORK/lag-primary.txt" 2> /dev/null &
    SAMPLER_PIDS+=($!)
    printf '%s\n\\watch %s\n' "SELECT extract(epoch FROM clock_timestamp()),
        round(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000, 2)" "$interval" \
        | timeout "$seconds" psql -X -q -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -At -F ' ' \
            > "$WORK/lag-replica.txt" 2> /dev/null &
    SAMPLER_PIDS+=($!)
    sample_wartawa_lag "$seconds" > "$WORK/lag-wartawa.txt" &
    SAMPLER_PIDS+=($!)
}

sample_wartawa_lag() {
    local port=${APP_PORTS[0]} ready
    ((KILL != 1)) || port=${APP_PORTS[1]}
    for _ in $(seq 1 $(($1 * 2))); do
        ready=$(curl -s -m 1 "http://127.0.0.1:$port/ready") || true
        [[ $ready =~ \"read_replica\":\{\"status\":\"([a-z_]+)\",\"lag_ms\":([0-9]+|null) ]] \
            && echo "$EPOCHREALTIME ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
        sleep 0.5
    done
}

stop_lag_samplers() {
    for pid in "${SAMPLER_PIDS[@]}"; do
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    SAMPLER_PIDS=()
}

# lag_in_window FROM TO: the samples taken between epochs FROM and TO, into $OUT/replica-lag-*.txt.
lag_in_window() {
    for side in primary replica wartawa; do
        awk -v from="$1" -v to="$2" 'NF >= 2 && $1 >= from && $1 <= to' "$WORK/lag-$side.txt" > "$OUT/replica-lag-$side.txt" 2> /dev/null || true
    done
}

# replica_db_reads: "<xact_commit> <tup_returned>" of the fleet's database on the replica.
replica_db_reads() {
    psql_at "$REPLICA_PORT" postgres "SELECT xact_commit || ' ' || tup_returned FROM pg_stat_database WHERE datname = '$DB'"
}

# replica_metrics: the lines of each process's /metrics that say where reads went and how far
# behind the replica is.
replica_metrics() {
    for n in 1 2 3; do
        curl -s -m 5 "http://127.0.0.1:${APP_PORTS[n - 1]}/metrics" | grep -i -E 'replica|browsing_reads|read_pool|database_read' | grep -v '^#' | sed "s/^/app$n: /" || true
    done
}

# cpu_snapshot: "<component> <CPU jiffies>" for the postgres servers of this fleet (postmasters and
# their children), pgbouncer, haproxy, the wartawa processes, and the whole machine.
cpu_snapshot() {
    local pms=()
    for data in "${CLUSTERS_STARTED[@]}"; do pms+=("$(head -n 1 "$data/postmaster.pid")"); done
    { cat /proc/[0-9]*/stat 2> /dev/null || true; } | awk -v pms=" ${pms[*]} " -v pgb="$PGBOUNCER_PID" -v hap="$HAPROXY_PID" -v apps=" ${APP_PIDS[*]} " '
        NF > 0 {
            pid = $1; rest = substr($0, index($0, ") ") + 2); split(rest, f, " ")
            cpu = f[12] + f[13]; ppid = f[2]
            if (index(pms, " " pid " ") || index(pms, " " ppid " ")) c["postgres"] += cpu
            else if (pid == pgb) c["pgbouncer"] += cpu
            else if (pid == hap) c["haproxy"] += cpu
            else if (index(apps, " " pid " ")) c["wartawa"] += cpu
        }
        END { for (k in c) print k, c[k] }'
    awk '/^cpu / {print "machine", $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# cpu_report BEFORE AFTER SECONDS: cores used by each component over the window.
cpu_report() {
    awk -v secs="$3" -v hz="$(getconf CLK_TCK)" '
        FNR == NR {a[$1] = $2; next}
        {b[$1] = $2}
        END {
            for (k in b) used[k] = (b[k] - a[k]) / hz / secs
            other = used["machine"] - used["postgres"] - used["pgbouncer"] - used["haproxy"] - used["wartawa"]
            printf "wartawa %.2f, postgres (primary+replica) %.2f, pgbouncer %.2f, haproxy %.2f, the rest (the python3 buyers; anything else) %.2f; machine %.2f of %d cores\n",
                used["wartawa"], used["postgres"], used["pgbouncer"], used["haproxy"], other, used["machine"], '"$(nproc)"'
        }' "$1" "$2"
}

# ---------------------------------------------------------------------------------------------
# Verification

# The books' checks, shared with bench/kill_restart.sh.
SQL_CHECKS=$(cat bench/books.sql)

# verify_sale LABEL EVENT: the books of the sale on the primary against what its buyers were told.
# Prints what is wrong (nothing when all is well), one line each.
verify_sale() {
    local label=$1 event=$2
    local sql=$WORK/verify-$label.sql
    {
        echo "CREATE TEMP TABLE told (what text, code text, key text, buyer int);"
        echo "CREATE TEMP TABLE outcome (kind text, key text, final text, lost int, buyer int);"
        awk '{split($4, k, "-"); printf "INSERT INTO told VALUES (%s, %s, %s, %s);\n", q($2), q($3), q($4), k[length(k) - 2]}
             function q(s) { return "'\''" s "'\''" }' "$OUT/$label-told.txt"
        awk '{n = split($3, k, "-"); printf "INSERT INTO outcome VALUES (%s, %s, %s, %s, %s);\n", q($2), q($3), q($4), $6, k[n - 2]}
             function q(s) { return "'\''" s "'\''" }' "$OUT/$label-outcomes.txt"
        cat << SQL
-- Every 201 and every payment's 200 a buyer was told is stored as told.
SELECT 'told ' || t.what || ' ' || t.code || ', stored ' || coalesce(b.status, 'nothing')
  FROM told t LEFT JOIN bookings b ON b.code = t.code
 WHERE b.status IS NULL OR (t.what = 'booked' AND b.status NOT IN ('pending', 'confirmed'))
    OR (t.what = 'paid' AND b.status <> 'confirmed');
-- Every key told a 201 keeps that very answer (a retry is replayed it, whichever process).
SELECT 'key ' || t.key || ' told ' || t.code || ' but holds ' || coalesce(k.status || ' ' || k.response_status, 'nothing')
  FROM told t JOIN users u ON u.email = 'buyer' || t.buyer || '@fleet.test'
  LEFT JOIN idempotency_keys k ON k.user_id = u.id AND k.key = t.key
 WHERE t.what = 'booked' AND (k.status IS DISTINCT FROM 'completed' OR k.response_status <> 201
    OR position(('"booking_code":"' || t.code || '"') IN convert_from(k.response_body, 'UTF8')) = 0);
-- No retry booked twice: a customer's bookings of the event are at least the 201s it was told and
-- at most those plus its booking keys whose answer never came.
SELECT 'buyer ' || u.email || ': ' || coalesce(db.n, 0) || ' bookings stored, ' || coalesce(o.told, 0)
       || ' told, ' || coalesce(o.unanswered, 0) || ' unanswered'
  FROM users u
  LEFT JOIN (SELECT customer_id, count(*) AS n FROM bookings WHERE event_id = $event GROUP BY customer_id) db ON db.customer_id = u.id
  LEFT JOIN (SELECT buyer, count(*) FILTER (WHERE final LIKE '201/%') AS told,
                    count(*) FILTER (WHERE final NOT LIKE '201/%' AND lost = 1) AS unanswered
               FROM outcome WHERE kind = 'book' GROUP BY buyer) o ON 'buyer' || o.buyer || '@fleet.test' = u.email
 WHERE u.email LIKE 'buyer%@fleet.test'
   AND (coalesce(db.n, 0) < coalesce(o.told, 0) OR coalesce(db.n, 0) > coalesce(o.told, 0) + coalesce(o.unanswered, 0));
SQL
        echo "$SQL_CHECKS;"
    } > "$sql"
    psql -X -q -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d "$DB" -v ON_ERROR_STOP=1 -At -f "$sql"
}

# loadgen_onsale LABEL BASE: `loadgen onsale` (no per-user limit, its own customers and events);
# sets LOADGEN_LINE to "<paid bookings/s> (book p99 <ms>, <ok|FAILED: ...>)". Its verification reads seat maps and
# events through BASE, from the replica when it is fresh enough.
loadgen_onsale() {
    local label=$1 base=$2 status=0 line
    "$LOADGEN" --base-url "$base" --label "$label" --json-out "$OUT/loadgen.jsonl" \
        --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
        onsale --clients "$LOADGEN_CLIENTS" --seats 1000 --rounds "$LOADGEN_ROUNDS" --max-tickets-per-user 0 \
        > "$OUT/loadgen-$label.txt" 2>&1 || status=$?
    line=$(jq -r --arg l "$label" 'select(.label == $l) | "\(.bookings_per_s) paid bookings/s (book p99 \(.book_p99_ms) ms, 409s \(.conflicts_409), 503s \(.shed_503), 5xx \(.server_errors_5xx), violations \(.violations | length))"' "$OUT/loadgen.jsonl" 2> /dev/null | tail -n 1)
    if ((status != 0)); then
        problem "loadgen onsale [$label] failed (exit $status): $(grep -E 'VIOLATION|error:|\*\*\*|loadgen:' "$OUT/loadgen-$label.txt" | head -n 3 | paste -sd ';')"
        line="${line:-no figures}, FAILED (loadgen-$label.txt)"
    fi
    LOADGEN_LINE=$line
}

# ---------------------------------------------------------------------------------------------
# Reporting

# rate FILE KIND FROM TO: answers of KIND ("paid", "booked") told between epochs FROM and TO, per s.
told_rate() {
    awk -v kind="$2" -v from="$3" -v to="$4" '$2 == kind && $1 >= from && $1 < to {n++}
        END {printf "%.1f", (to > from) ? n / (to - from) : 0}' "$1"
}

# status_table LABEL KILL_AT BACK_AT: every status the buyers saw, by request kind and window.
status_table() {
    awk -v kill="${2:-0}" -v back="${3:-0}" '
        $2 == "sold-out" {next}
        {
            key = $2 " " $3 " " $4
            w = (kill == 0 || $1 < kill) ? 1 : ($1 < back ? 2 : 3)
            c[key, w]++; c[key, 0]++; keys[key] = 1
        }
        END {
            if (kill == 0) print "| request | status | reason | count |\n|---|---|---|---|"
            else print "| request | status | reason | before the kill | killed to ready | after | total |\n|---|---|---|---|---|---|---|"
            n = asorti(keys, sorted)
            for (i = 1; i <= n; i++) {
                split(sorted[i], p, " ")
                if (kill == 0) printf "| %s | %s | %s | %d |\n", p[1], p[2], p[3], c[sorted[i], 0]
                else printf "| %s | %s | %s | %d | %d | %d | %d |\n", p[1], p[2], p[3], c[sorted[i], 1], c[sorted[i], 2], c[sorted[i], 3], c[sorted[i], 0]
            }
        }' "$OUT/$1-attempts.txt"
}

# cut_requests LABEL: the keyed POSTs whose answer was lost at least once, by how they ended.
cut_requests() {
    awk '$6 == 1 {n++; k = $2 " ended " $4; c[k]++; t[k] += $5}
        END {
            printf "%d keyed POSTs had an answer lost (no answer, 502/503/504, or 409 idempotency_in_progress) and were sent again with the same key\n", n
            for (k in c) printf "  %d × %s (%.0f tries each on average)\n", c[k], k, t[k] / c[k]
        }' "$OUT/$1-outcomes.txt"
}

# unresolved_payments LABEL: each payment whose answer never came, with its booking's status now
# (confirmed: the killed process took the money and nobody was told).
unresolved_payments() {
    awk '$2 == "pay" && $6 == 1 && $4 !~ /^200/ {print $7}' "$OUT/$1-outcomes.txt" | while read -r code; do
        echo "  payment of $code never answered; the booking is now $(psql_at "$PRIMARY_PORT" "$DB" "SELECT status FROM bookings WHERE code = '$code'")"
    done
}

# untold_bookings LABEL EVENT: bookings of the sale that no buyer was told of (a booking the killed
# process made before it could answer: its seats are held until the hold expires).
untold_bookings() {
    local codes
    codes=$(awk '$2 == "booked" {print $3}' "$OUT/$1-told.txt" | paste -sd,)
    psql_at "$PRIMARY_PORT" "$DB" "SELECT count(*) || coalesce(' (' || string_agg(code || ' ' || status, ', ') || ')', '')
        FROM bookings WHERE event_id = $2 AND NOT (code = ANY ('{$codes}'::text[]))"
}

# percentiles FILE COLUMN: "median p95 max" of a column.
percentiles() {
    awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR] = $1}
        END {
            if (NR == 0) {print "- - -"; exit}
            m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.95 + 0.999)]; if (p == "") p = v[NR]
            print m, p, v[NR]
        }'
}

server_warnings() {
    for n in 1 2 3; do
        grep -E '"level":"(WARN|ERROR)"|panick' "$OUT/server-app$n.log" | head -n 200 > "$OUT/server-app$n.warnings" || true
        echo "app$n: $(wc -l < "$OUT/server-app$n.warnings") warnings/errors (first 3):"
        head -n 3 "$OUT/server-app$n.warnings" | cut -c 1-400 | sed 's/^/    /'
    done
}

# =============================================================================================

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/wartawa-fleet.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM
REPLY_FILE=$WORK/reply.main

check_tools
write_buyers_program
machine_info | tee "$OUT/machine.txt"
build_release
check_server_settings

say "PostgreSQL: a primary on $PRIMARY_PORT and a streaming replica on $REPLICA_PORT (in $WORK/pg)"
install -d -o postgres -m 755 "$WORK/pg" 2> /dev/null || mkdir -p "$WORK/pg"
make_primary
make_replica
say "pgbouncer on $PGBOUNCER_PORT (transaction pooling, $PGBOUNCER_POOL server connections)"
start_pgbouncer

say "three WarTawa processes on ${APP_PORTS[*]} (DATABASE_POOL_SIZE=$POOL_SIZE each), HAProxy on $HAPROXY_PORT"
# One after the other: the first applies the migrations.
for n in 1 2 3; do start_app "$n"; done
start_haproxy
wait_for "HAProxy seeing the three processes up" 20 all_servers_up

say "set-up through HAProxy: the admin, $BUYERS buyers, an event of $SEATS seats"
ADMIN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
register_buyers
EVENT_AND_PHASE=$(create_event "Fleet on-sale $RUN_TAG")
read -r EVENT PHASE <<< "$EVENT_AND_PHASE"
[[ $EVENT =~ ^[0-9]+$ && $PHASE =~ ^[0-9]+$ ]] || die "could not create the event"

# --- The sale through HAProxy, one process killed in the middle ------------------------------
SALE_SECONDS=$((SECONDS_BEFORE_KILL + SECONDS_DOWN + SECONDS_AFTER_RESTART + 60))
haproxy_stats > "$OUT/haproxy-stats-before.csv"
read -r REPLICA_XACT_BEFORE REPLICA_TUP_BEFORE < <(replica_db_reads)
replica_metrics > "$OUT/replica-metrics-before.txt"
cpu_snapshot > "$WORK/cpu-start"
start_lag_samplers $((SALE_SECONDS + RETRY_SECONDS * 2 + 60))

say "the sale: $BUYERS buyers through HAProxy; process $KILL killed after $SECONDS_BEFORE_KILL s"
SALE_START=$EPOCHREALTIME
start_buyers fleet "$HAPROXY_PORT" "$EVENT" "$PHASE" "$SALE_SECONDS"
sleep "$SECONDS_BEFORE_KILL"
cpu_snapshot > "$WORK/cpu-kill"
KILL_AT=$EPOCHREALTIME
kill_app "$KILL"
say "process $KILL (port ${APP_PORTS[KILL - 1]}) killed with SIGKILL"
sleep "$SECONDS_DOWN"
DOWN_SEEN=$(haproxy_stats | awk -F, -v s="app$KILL" '$1 == "wartawa" && $2 == s {print $18}')
start_app "$KILL"
BACK_AT=$EPOCHREALTIME
say "process $KILL answers /ready again ($(awk -v a="$KILL_AT" -v b="$BACK_AT" 'BEGIN {printf "%.1f", b - a}') s after the kill; HAProxy had it $DOWN_SEEN)"
cpu_snapshot > "$WORK/cpu-back"
sleep "$SECONDS_AFTER_RESTART"
SALE_END=$EPOCHREALTIME
cpu_snapshot > "$WORK/cpu-end"
stop_buyers fleet
stop_lag_samplers
lag_in_window "$SALE_START" "$SALE_END"
wait_for "HAProxy seeing process $KILL up again" 10 all_servers_up
haproxy_stats > "$OUT/haproxy-stats-after.csv"
read -r REPLICA_XACT_AFTER REPLICA_TUP_AFTER < <(replica_db_reads)
replica_metrics > "$OUT/replica-metrics-after.txt"
for n in 1 2 3; do
    echo "app$n /ready: $(curl -s -m 5 -w ' (HTTP %{http_code})' "http://127.0.0.1:${APP_PORTS[n - 1]}/ready")"
done > "$OUT/ready.txt"
psql -X -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres -d pgbouncer -c 'SHOW POOLS' -c 'SHOW STATS' > "$OUT/pgbouncer-show.txt" 2>&1 || true
PGBOUNCER_LINE=$(psql -X -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres -d pgbouncer -At -F ' ' -c 'SHOW STATS' 2> /dev/null \
    | awk -v db="$DB" '$1 == db {printf "%d transactions, %d queries (%.1f a transaction), %.2f ms a transaction on average, clients waited %.1f s for a server connection in all", $2, $3, $3 / ($2 > 0 ? $2 : 1), $6 / ($2 > 0 ? $2 : 1) / 1000, $8 / 1e6}') || true

say "verifying the books of the sale on the primary"
verify_sale fleet "$EVENT" > "$OUT/fleet-violations.txt" || problem "the verification queries failed"
[[ -s $OUT/fleet-violations.txt ]] && problem "the books or the answers disagree: $(head -n 5 "$OUT/fleet-violations.txt" | paste -sd ';')"

# --- One process directly, the same buyers, no kill ------------------------------------------
SOLO_LINE="not run (FLEET_SOLO_SECONDS=0)"
if ((SOLO_SECONDS > 0)); then
    EVENT_AND_PHASE=$(create_event "Fleet single-process $RUN_TAG")
    read -r SOLO_EVENT SOLO_PHASE <<< "$EVENT_AND_PHASE"
    say "the same $BUYERS buyers against process 1 directly (no HAProxy), $SOLO_SECONDS s"
    cpu_snapshot > "$WORK/cpu-solo-start"
    SOLO_START=$EPOCHREALTIME
    start_buyers solo "${APP_PORTS[0]}" "$SOLO_EVENT" "$SOLO_PHASE" $((SOLO_SECONDS + 60))
    sleep "$SOLO_SECONDS"
    SOLO_END=$EPOCHREALTIME
    cpu_snapshot > "$WORK/cpu-solo-end"
    stop_buyers solo
    verify_sale solo "$SOLO_EVENT" > "$OUT/solo-violations.txt" || problem "the verification queries failed (single process)"
    [[ -s $OUT/solo-violations.txt ]] && problem "single process: the books or the answers disagree: $(head -n 5 "$OUT/solo-violations.txt" | paste -sd ';')"
    SOLO_LINE="$(told_rate "$OUT/solo-told.txt" paid "$SOLO_START" "$SOLO_END") paid bookings/s over $SOLO_SECONDS s; CPU: $(cpu_report "$WORK/cpu-solo-start" "$WORK/cpu-solo-end" "$(awk -v a="$SOLO_START" -v b="$SOLO_END" 'BEGIN {print b - a}')")"
fi

# --- The load generator: through HAProxy, then one process directly -------------------------
LOADGEN_FLEET="not run (FLEET_LOADGEN_ROUNDS=0)"
LOADGEN_SOLO="not run"
LOADGEN_DIRECT="not run"
if ((LOADGEN_ROUNDS > 0)); then
    [[ -x $LOADGEN ]] || die "$LOADGEN is missing"
    say "loadgen onsale through HAProxy ($LOADGEN_CLIENTS buyers, $LOADGEN_ROUNDS sales of 1000 seats)"
    loadgen_onsale fleet-loadgen "$HAPROXY_BASE"
    LOADGEN_FLEET=$LOADGEN_LINE
    say "loadgen onsale against process 1 directly"
    loadgen_onsale solo-loadgen "http://127.0.0.1:${APP_PORTS[0]}"
    LOADGEN_SOLO=$LOADGEN_LINE
    # What pgbouncer in transaction mode costs: process 1 again, straight to the primary.
    say "loadgen onsale against process 1 restarted with DATABASE_URL = the primary (session mode, no pgbouncer)"
    stop_pid "${APP_PIDS[0]}" 10
    start_app 1 DATABASE_URL="$PRIMARY_URL" DATABASE_POOL_MODE=session
    loadgen_onsale solo-direct-loadgen "http://127.0.0.1:${APP_PORTS[0]}"
    LOADGEN_DIRECT=$LOADGEN_LINE
fi

# --- The report ------------------------------------------------------------------------------
say "report"
# HAProxy's 502/503/504 while a process is down, and WarTawa's documented 503, are answers lost
# and retried; a 500 or any other 5xx is a failure.
SERVER_ERRORS=$(cat "$OUT"/*-attempts.txt | awk '$3 ~ /^5/ && $3 != 502 && $3 != 503 && $3 != 504' | wc -l)
FIVE_HUNDREDS=$(cat "$OUT"/*-attempts.txt | awk '$3 == 500' | wc -l)
((FIVE_HUNDREDS == 0)) || problem "$FIVE_HUNDREDS answers were 500"
((SERVER_ERRORS == FIVE_HUNDREDS)) || problem "$((SERVER_ERRORS - FIVE_HUNDREDS)) answers were another unexpected 5xx"
PAID_TOTAL=$(awk '$2 == "paid"' "$OUT/fleet-told.txt" | wc -l)
((PAID_TOTAL > 0)) || problem "no booking was paid through HAProxy"
STUCK_KEYS=$(psql_at "$PRIMARY_PORT" "$DB" "SELECT count(*) FROM idempotency_keys WHERE status = 'in_progress'")
read -r LAG_BYTES_MED LAG_BYTES_P95 LAG_BYTES_MAX < <(percentiles "$OUT/replica-lag-primary.txt" 2)
read -r LAG_MS_MED LAG_MS_P95 LAG_MS_MAX < <(percentiles "$OUT/replica-lag-primary.txt" 3)
read -r REPLAY_AGE_MED REPLAY_AGE_P95 REPLAY_AGE_MAX < <(percentiles "$OUT/replica-lag-replica.txt" 2)
LAG_SAMPLES="$(wc -l < "$OUT/replica-lag-primary.txt") on the primary, $(wc -l < "$OUT/replica-lag-replica.txt") on the replica"
read -r WARTAWA_LAG_MED WARTAWA_LAG_P95 WARTAWA_LAG_MAX < <(awk '$3 ~ /^[0-9]+$/' "$OUT/replica-lag-wartawa.txt" | percentiles /dev/stdin 3)
WARTAWA_LAG_SAMPLES=$(awk '{n++; if ($2 != "fresh") s++} END {printf "%d samples, %d of them not fresh", n, s}' "$OUT/replica-lag-wartawa.txt")
HAPROXY_LINES=$(paste -d' ' <(awk -F, '$1 == "wartawa" {print $2, $16, $17, $14, $15, $23, $25}' "$OUT/haproxy-stats-before.csv") \
    <(awk -F, '$1 == "wartawa" {print $2, $16, $17, $14, $15, $23, $25}' "$OUT/haproxy-stats-after.csv") \
    | awk '{printf "| %s | %d | %d | %d | %d | %d | %d |\n", $1, $9 - $2, $10 - $3, $11 - $4, $12 - $5, $13 - $6, $14 - $7}')

{
    echo "# A fleet: three processes, pgbouncer, a replica, HAProxy ($STAMP)"
    echo
    echo '```'
    machine_info
    echo '```'
    echo
    echo "Command: \`$(env | grep '^FLEET_' | sort | tr '\n' ' ')bash bench/fleet.sh\`; $BUYERS buyers (python3 threads, kept-alive connections), events of $SEATS seats, DATABASE_POOL_SIZE=$POOL_SIZE a process, pgbouncer default_pool_size=$PGBOUNCER_POOL, READ_REPLICA_MAX_LAG_MS=$MAX_LAG_MS, process $KILL killed after $SECONDS_BEFORE_KILL s."
    echo
    echo "## Throughput through HAProxy"
    echo
    echo "- before the kill: $(told_rate "$OUT/fleet-told.txt" paid "$SALE_START" "$KILL_AT") paid bookings/s ($(awk -v a="$SALE_START" -v b="$KILL_AT" 'BEGIN {printf "%.1f", b - a}') s)"
    echo "- killed to ready again: $(told_rate "$OUT/fleet-told.txt" paid "$KILL_AT" "$BACK_AT") paid bookings/s ($(awk -v a="$KILL_AT" -v b="$BACK_AT" 'BEGIN {printf "%.1f", b - a}') s)"
    echo "- after the restart: $(told_rate "$OUT/fleet-told.txt" paid "$BACK_AT" "$SALE_END") paid bookings/s ($(awk -v a="$BACK_AT" -v b="$SALE_END" 'BEGIN {printf "%.1f", b - a}') s)"
    echo "- one process directly, same buyers, no kill: $SOLO_LINE"
    echo "- the load generator (no kill), through HAProxy: $LOADGEN_FLEET"
    echo "- the load generator (no kill), one process directly: $LOADGEN_SOLO"
    echo "- the load generator (no kill), one process directly, its DATABASE_URL the primary (session mode, no pgbouncer): $LOADGEN_DIRECT"
    echo "- CPU before the kill: $(cpu_report "$WORK/cpu-start" "$WORK/cpu-kill" "$(awk -v a="$SALE_START" -v b="$KILL_AT" 'BEGIN {print b - a}')")"
    echo "- CPU after the restart: $(cpu_report "$WORK/cpu-back" "$WORK/cpu-end" "$(awk -v a="$BACK_AT" -v b="$SALE_END" 'BEGIN {print b - a}')")"
    echo "- told: $(awk '$2 == "booked"' "$OUT/fleet-told.txt" | wc -l) bookings (201), $PAID_TOTAL payments (200)"
    echo
    echo "## What the kill cut"
    echo
    echo '```'
    cut_requests fleet
    unresolved_payments fleet
    echo "bookings stored that no buyer was told of: $(untold_bookings fleet "$EVENT")"
    echo "idempotency keys still in progress after the sale: $STUCK_KEYS (a killed process's claim: WarTawa lets a retry take it over after 5 minutes)"
    echo '```'
    echo
    echo "pgbouncer, set-up and sale: ${PGBOUNCER_LINE:-no figures}."
    echo
    echo "HAProxy, during the sale (retries to another server, redispatches, connection errors, response errors, failed checks, seconds down):"
    echo
    echo "| server | retries | redispatches | conn errors | resp errors | checks down | downtime s |"
    echo "|---|---|---|---|---|---|---|"
    echo "$HAPROXY_LINES"
    echo
    echo "## Every status the buyers saw (through HAProxy)"
    echo
    status_table fleet "$KILL_AT" "$BACK_AT"
    if ((SOLO_SECONDS > 0)); then
        echo
        echo "One process directly:"
        echo
        status_table solo
    fi
    echo
    echo "## The replica"
    echo
    echo "- lag over $LAG_SAMPLES samples (every $LAG_SAMPLE_MS ms during the sale, the kill included): bytes behind (primary's pg_current_wal_lsn() - replay_lsn) median $LAG_BYTES_MED, p95 $LAG_BYTES_P95, max $LAG_BYTES_MAX; replay_lag (pg_stat_replication) median $LAG_MS_MED ms, p95 $LAG_MS_P95 ms, max $LAG_MS_MAX ms; on the replica, now() - pg_last_xact_replay_timestamp() median $REPLAY_AGE_MED ms, p95 $REPLAY_AGE_P95 ms, max $REPLAY_AGE_MAX ms"
    echo "- the lag WarTawa itself believes (the read_replica of /ready of a process not killed, twice a second; $WARTAWA_LAG_SAMPLES): median $WARTAWA_LAG_MED ms, p95 $WARTAWA_LAG_P95 ms, max $WARTAWA_LAG_MAX ms"
    echo "- reads served by the replica's $DB during the sale: $((REPLICA_XACT_AFTER - REPLICA_XACT_BEFORE)) transactions, $((REPLICA_TUP_AFTER - REPLICA_TUP_BEFORE)) rows returned (pg_stat_database; the samplers read the postgres database, not this one)"
    echo "- seat-map reads by the buyers: $(awk '$2 == "map"' "$OUT/fleet-attempts.txt" | wc -l)"
    echo "- each process's /metrics on where reads went, before and after the sale (process $KILL's counters restarted with it):"
    echo
    echo '```'
    sed 's/^/before: /' "$OUT/replica-metrics-before.txt"
    sed 's/^/after:  /' "$OUT/replica-metrics-after.txt"
    echo '```'
    echo
    echo "## /ready of each process after the sale"
    echo
    echo '```'
    cat "$OUT/ready.txt"
    echo '```'
    echo
    echo "## The books"
    echo
    if [[ -s $OUT/fleet-violations.txt ]]; then
        echo "FAILED:"
        echo '```'
        head -n 30 "$OUT/fleet-violations.txt"
        echo '```'
    else
        echo "Verified on the primary: no seat in two open bookings, phase counters, event figures and payments agree; every 201 and every payment's 200 a buyer was told is stored; every key told a 201 holds that answer; no customer has more bookings than its keys could have made."
    fi
    echo
    echo "## Server logs (RUST_LOG=$SERVER_LOG_LEVEL)"
    echo
    echo '```'
    server_warnings
    echo '```'
    echo
    if ((FAILED)); then echo "**FAILED** (see run.log)"; else echo "**OK**"; fi
} > "$OUT/summary.md"
cat "$OUT/summary.md"
echo "results: $OUT"
((FAILED == 0)) || exit 1
