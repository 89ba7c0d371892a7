# Shared by bench/run.sh, bench/overload.sh and bench/growth.sh (sourced, not run): the runners'
# settings, building, starting and stopping the release server on loopback, running a
# load-generator scenario (the overload scenario on a server of its own), sampling PostgreSQL's
# waits. The caller sets OUT, JSON, PORT, BASE, PG, PGHOST_ARGS, SERVER_LOG_LEVEL, ADMIN_EMAIL,
# ADMIN_PASSWORD, JWT_SECRET, LOADGEN, SERVER_BIN, SERVER_PID, SERVER_NAME, SAMPLER_PID, FAILED,
# MADE_DBS, or has bench_init set them.

# bench_init PREFIX PORT, from the repository root: results in bench/results/PREFIX<stamp>/, the
# server on BENCH_PORT (default PORT), PostgreSQL at BENCH_PG, the server's RUST_LOG from
# BENCH_RUST_LOG (default info: the product's default, one log line per request), the bench
# admin and JWT secret, the release binaries, and the state cleanup() reads.
bench_init() {
    ROOT=$(pwd)
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    OUT="$ROOT/bench/results/$1$STAMP"
    mkdir -p "$OUT"
    JSON="$OUT/results.jsonl"
    PORT=${BENCH_PORT:-$2}
    BASE="http://127.0.0.1:$PORT"
    PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
    PGHOST_ARGS=(-h 127.0.0.1 -U postgres)
    SERVER_LOG_LEVEL=${BENCH_RUST_LOG:-info}
    ADMIN_EMAIL=admin@bench.example
    ADMIN_PASSWORD=bench-admin-password
    JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789abcdef
    # Tickets' signing key (32 bytes in base64), needed with PostgreSQL; every server and
    # `wartawa migrate` started here inherits it.
    export TICKET_SIGNING_KEY=YmVuY2gtdGlja2V0LXNpZ25pbmcta2V5LTAxMjM0NTY=
    LOADGEN="$ROOT/target/release/loadgen"
    SERVER_BIN="$ROOT/target/release/wartawa"
    SERVER_PID=""
    SERVER_NAME=""
    SAMPLER_PID=""
    FAILED=0
    MADE_DBS=()
}

# build_release: the release server and load generator, unless BENCH_SKIP_BUILD=1.
build_release() {
    if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
        log "cargo build --release -p bootstrap -p wartawa-loadgen"
        cargo build --release -p bootstrap -p wartawa-loadgen
    fi
}

# postgres_up: whether PostgreSQL answers as postgres on loopback.
postgres_up() {
    psql "${PGHOST_ARGS[@]}" -Atc 'select 1' > /dev/null 2>&1
}

log() { printf '\n=== %s [%s, load average %s]\n' "$*" "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.log"; }

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$SERVER_NAME" && -f "$OUT/server-$SERVER_NAME.log" ]]; then
        # Keep what went wrong in plain text, the whole log compressed.
        grep -E 'WARN|ERROR|panick' "$OUT/server-$SERVER_NAME.log" | head -n 200 > "$OUT/server-$SERVER_NAME.warnings" || true
        gzip -f "$OUT/server-$SERVER_NAME.log" || true
    fi
    SERVER_PID=""
    SERVER_NAME=""
}

cleanup() {
    [[ -n "${SAMPLER_PID:-}" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
    stop_server
    if [[ "${BENCH_KEEP_DB:-0}" != 1 ]]; then
        # --force: a pooler in front of the database (bench/ab.sh's per-side settings) may still
        # hold server connections to it.
        for db in "${MADE_DBS[@]}"; do
            dropdb "${PGHOST_ARGS[@]}" --if-exists --force "$db" 2>/dev/null || true
        done
    fi
}

# start_server NAME [VAR=value ...]: the release server on $PORT, from the results folder (so that
# no .env of the working tree is read), with the given environment on top of a clean one (a
# setting given here wins over the defaults below). Every simulated buyer comes from 127.0.0.1
# and clicks far faster than a person, so the throttles that one address of robots would hit are
# off: logins and sign-ups per address (the on-sale signs up hundreds of buyers), connections per
# address (the overload rush holds thousands), booking attempts per customer. The in-flight bound
# stays as configured; no load balancer watches /ready here, so stopping does not wait for one
# (DRAIN_SECS=0). bench/attacks.sh turns the per-address ones back on: they are what it
# measures.
start_server() {
    local name=$1
    shift
    SERVER_NAME=$name
    (
        cd "$OUT"
        exec env -u DATABASE_URL -u DB_URL -u JWT_SECRET \
            APP_HOST=127.0.0.1 APP_PORT="$PORT" RUST_LOG="$SERVER_LOG_LEVEL" \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            LOGIN_ATTEMPTS_PER_ADDRESS=0 REGISTRATIONS_PER_ADDRESS=0 MAX_CONNECTIONS_PER_ADDRESS=0 \
            BOOKINGS_PER_CUSTOMER=0 DRAIN_SECS=0 "$@" \
            "$SERVER_BIN" serve
    ) > "$OUT/server-$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 120); do
        if curl -sf -o /dev/null "$BASE/health"; then
            echo "server '$name' up (pid $SERVER_PID): $*" | tee -a "$OUT/run.log"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "*** the server '$name' died at start-up:" >&2
            tail -n 20 "$OUT/server-$name.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "*** the server '$name' did not answer /health within 60 s" >&2
    exit 1
}

# overload_run NAME LABEL [VAR=value ...]: `loadgen overload` (labelled LABEL) against a server
# of its own, NAME, started with the given environment, stopped after. The scenario sells thousands
# of seats to a few customers: the per-user ticket limit is lifted (MAX_TICKETS_PER_USER=0), and
# BCRYPT_COST=4 as for the on-sale. BENCH_OVERLOAD_CLIENTS, BENCH_OVERLOAD_DURATION,
# BENCH_OVERLOAD_FACTOR, BENCH_OVERLOAD_EVENTS and BENCH_OVERLOAD_SEATS, when set, replace the
# scenario's defaults (the on-sale load of 64 closed-loop buyers as the baseline, 10 s a phase, a
# rush of 10 × the baseline's request rate R, 250 events of 1000 seats).
overload_run() {
    local name=$1 label=$2 knobs=()
    shift 2
    [[ -n "${BENCH_OVERLOAD_CLIENTS:-}" ]] && knobs+=(--clients "$BENCH_OVERLOAD_CLIENTS")
    [[ -n "${BENCH_OVERLOAD_DURATION:-}" ]] && knobs+=(--duration "$BENCH_OVERLOAD_DURATION")
    [[ -n "${BENCH_OVERLOAD_FACTOR:-}" ]] && knobs+=(--factor "$BENCH_OVERLOAD_FACTOR")
    [[ -n "${BENCH_OVERLOAD_EVENTS:-}" ]] && knobs+=(--events "$BENCH_OVERLOAD_EVENTS")
    [[ -n "${BENCH_OVERLOAD_SEATS:-}" ]] && knobs+=(--seats "$BENCH_OVERLOAD_SEATS")
    start_server "$name" BCRYPT_COST=4 MAX_TICKETS_PER_USER=0 "$@"
    loadgen "$label" overload "${knobs[@]}"
    stop_server
}

# sample_pg_waits DB FILE: what the database's sessions are doing, 4 times a second, at most 5
# minutes (killed when the measured scenario ends): where the time of a booking goes.
sample_pg_waits() {
    local db=$1 file=$2
    for _ in $(seq 1 1200); do
        psql "${PGHOST_ARGS[@]}" -d "$db" -Atc \
            "select coalesce(wait_event_type, 'on CPU'), coalesce(wait_event, '-'), state from pg_stat_activity \
             where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'" >> "$file" 2>/dev/null || true
        echo "--" >> "$file"
        sleep 0.25
    done
}

summarise_waits() {
    local file=$1 samples
    samples=$(grep -c '^--$' "$file" || true)
    echo "PostgreSQL sessions not idle, over $samples samples (wait type|wait event|state: session-samples):"
    grep -v '^--$' "$file" | sort | uniq -c | sort -rn | head -n 15
}

# loadgen LABEL SCENARIO ARGS...: one scenario; a failure is remembered, the run goes on.
loadgen() {
    local label=$1
    shift
    log "loadgen $* [$label]"
    if ! "$LOADGEN" --base-url "$BASE" --label "$label" --json-out "$JSON" --server-pid "$SERVER_PID" \
        --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" "$@" 2>&1 | tee -a "$OUT/run.log"; then
        echo "*** loadgen $1 [$label] FAILED" | tee -a "$OUT/run.log"
        FAILED=1
    fi
}


machine_info() {
    echo "stamp: $STAMP"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "nproc: $(nproc)"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -r)"
    echo "postgres: $(psql "${PGHOST_ARGS[@]}" -Atc 'show server_version' 2>/dev/null || echo unreachable)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
}
