# Shared by bench/run.sh and bench/growth.sh (sourced, not run): starting and stopping the
# release server on loopback, running a load-generator scenario, sampling PostgreSQL's waits.
# The caller sets OUT, JSON, PORT, BASE, PGHOST_ARGS, SERVER_LOG_LEVEL, ADMIN_EMAIL,
# ADMIN_PASSWORD, LOADGEN, SERVER_BIN, SERVER_PID, SERVER_NAME, SAMPLER_PID, FAILED, MADE_DBS.

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
        for db in "${MADE_DBS[@]}"; do
            dropdb "${PGHOST_ARGS[@]}" --if-exists "$db" 2>/dev/null || true
        done
    fi
}

# start_server NAME [VAR=value ...]: the release server on $PORT, from the results folder (so that
# no .env of the working tree is read), with the given environment on top of a clean one. Every
# simulated buyer comes from 127.0.0.1 and clicks far faster than a person, so the per-address
# login and per-customer booking throttles are off; the in-flight bound stays as configured.
start_server() {
    local name=$1
    shift
    SERVER_NAME=$name
    (
        cd "$OUT"
        exec env -u DATABASE_URL -u DB_URL -u JWT_SECRET \
            APP_HOST=127.0.0.1 APP_PORT="$PORT" RUST_LOG="$SERVER_LOG_LEVEL" \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            LOGIN_ATTEMPTS_PER_ADDRESS=0 BOOKINGS_PER_CUSTOMER=0 "$@" \
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
