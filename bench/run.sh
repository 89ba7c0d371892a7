#!/usr/bin/env bash
# The on-sale benchmark, in one command, from the repository root:
#
#     bash bench/run.sh
#
# Builds the release server and the load generator, then in this one run:
#   1. memory store, BCRYPT_COST=4 (registering ~400 buyers at cost 12 would take minutes and
#      measure bcrypt, not the sale): health, browse (1000 seats), onsale (64 buyers, 1000 seats);
#      then overload on a server of its own (MAX_TICKETS_PER_USER=0), over 250 events of 1000
#      seats: the on-sale load (64 buyers) for 10 s, whose request rate is the sustainable rate R
#      and whose p99 the unloaded p99; an open-loop rush of 10 × R for 10 s (admitted p99 against
#      the unloaded one, 503s shed, failures); the 64 buyers again (recovery); every event's books
#      verified;
#   2. memory store, BCRYPT_COST=12 (production cost): login-burst (browse alone, then browse
#      with a steady stream of logins; the logins past MAX_PASSWORD_CHECKS_IN_FLIGHT get the
#      documented 503 with Retry-After, counted as shed, not as errors);
#   3. PostgreSQL, a fresh database: onsale and browse, same sizes; then overload, as in 1;
#   4. pgbench TPC-B on its own database (the database's ceiling on this machine);
#   5. pgbench booking and paying with the server's write statements, one request a batch, 10 clients
#      (the server's pool), on a database of its own (bench/booking_ceiling.sql): what the
#      database alone can do of the sale's writes, with no server, no reads and no load generator;
# then prints every figure beside its reference and target (bench/results/<stamp>/summary.md).
# The overload scenario alone (and a sweep of MAX_IN_FLIGHT_REQUESTS): bash bench/overload.sh.
#
# Only loopback is used. Every server started here is stopped on exit (trap), and the databases
# made here are dropped (BENCH_KEEP_DB=1 keeps them).
#
# Knobs (environment): BENCH_PORT (18543), BENCH_PG (postgres://postgres@127.0.0.1:5432),
# BENCH_DURATION (seconds of each browse/health phase, 15), BENCH_ROUNDS_MEMORY (5) and
# BENCH_ROUNDS_PG (3) sales of 1000 seats, BENCH_LOGIN_RATE (20), BENCH_RUST_LOG (the server's
# RUST_LOG, default info: the product's default, one log line per request),
# BENCH_POOL_SIZE (DATABASE_POOL_SIZE for the PostgreSQL server; unset = the product default),
# BENCH_OVERLOAD_DURATION (10), BENCH_OVERLOAD_FACTOR (10), BENCH_OVERLOAD_CLIENTS (64),
# BENCH_OVERLOAD_EVENTS (250), BENCH_OVERLOAD_SEATS (1000 seats an event), BENCH_SKIP_BUILD=1.
# In every scenario but overload's rush, a request shed with the documented 503 (Retry-After and
# the error shape) is counted and, by the readers and buyers, sent again after a short pause; any
# other 5xx fails the run.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init "" 18543
DURATION=${BENCH_DURATION:-15}
ROUNDS_MEMORY=${BENCH_ROUNDS_MEMORY:-5}
ROUNDS_PG=${BENCH_ROUNDS_PG:-3}
LOGIN_RATE=${BENCH_LOGIN_RATE:-20}
DB="wartawa_bench_$(echo "$STAMP" | tr 'A-Z' 'a-z')"
PGBENCH_DB="${DB}_pgbench"
CEILING_DB="${DB}_ceiling"
trap cleanup EXIT
trap 'exit 130' INT TERM

machine_info | tee "$OUT/machine.txt"
build_release

# 1. Memory store.
log "memory store, BCRYPT_COST=4"
start_server memory BCRYPT_COST=4
loadgen memory health --clients 64 --duration "$DURATION"
loadgen memory browse --clients 64 --seats 1000 --duration "$DURATION" --seat-share 1
loadgen memory browse --clients 64 --seats 1000 --duration "$DURATION"
loadgen memory onsale --clients 64 --seats 1000 --rounds "$ROUNDS_MEMORY"
stop_server
log "memory store: overload"
overload_run memory-overload memory

# 2. Logins at the production cost while people browse.
log "memory store, BCRYPT_COST=12"
start_server memory-bcrypt12 BCRYPT_COST=12
loadgen memory-bcrypt12 login-burst --clients 64 --seats 1000 --duration "$DURATION" --login-rate "$LOGIN_RATE"
stop_server

# 3. PostgreSQL, a fresh database.
if postgres_up; then
    log "PostgreSQL: fresh database $DB"
    createdb "${PGHOST_ARGS[@]}" "$DB"
    MADE_DBS+=("$DB")
    pool=()
    [[ -n "${BENCH_POOL_SIZE:-}" ]] && pool=(DATABASE_POOL_SIZE="$BENCH_POOL_SIZE")
    start_server postgres BCRYPT_COST=4 DATABASE_URL="$PG/$DB" JWT_SECRET="$JWT_SECRET" "${pool[@]}"
    sample_pg_waits "$DB" "$OUT/pg-waits-onsale.txt" &
    SAMPLER_PID=$!
    loadgen postgres onsale --clients 64 --seats 1000 --rounds "$ROUNDS_PG"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    summarise_waits "$OUT/pg-waits-onsale.txt" | tee -a "$OUT/run.log"
    loadgen postgres browse --clients 64 --seats 1000 --duration "$DURATION" --seat-share 1
    loadgen postgres browse --clients 64 --seats 1000 --duration "$DURATION"
    stop_server
    log "PostgreSQL: overload"
    overload_run postgres-overload postgres DATABASE_URL="$PG/$DB" JWT_SECRET="$JWT_SECRET" "${pool[@]}"

    # 4. The database's own ceiling: pgbench TPC-B, scale 10, 64 clients, 2 threads, 20 s.
    if command -v pgbench > /dev/null; then
        log "pgbench TPC-B on $PGBENCH_DB"
        createdb "${PGHOST_ARGS[@]}" "$PGBENCH_DB"
        MADE_DBS+=("$PGBENCH_DB")
        pgbench "${PGHOST_ARGS[@]}" -i -s 10 -q "$PGBENCH_DB" > "$OUT/pgbench-init.log" 2>&1
        pgbench "${PGHOST_ARGS[@]}" -c 64 -j 2 -T 20 "$PGBENCH_DB" 2>&1 | tee "$OUT/pgbench.log" | tee -a "$OUT/run.log"
        tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$OUT/pgbench.log")
        latency=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$OUT/pgbench.log")
        if [[ -n "$tps" ]]; then
            printf '{"scenario":"pgbench","label":"postgres","tps":%s,"latency_avg_ms":%s,"clients":64,"threads":2,"seconds":20,"scale":10}\n' \
                "$tps" "${latency:-null}" >> "$JSON"
        else
            echo "*** could not read tps from pgbench's output" | tee -a "$OUT/run.log"
        fi
        dropdb "${PGHOST_ARGS[@]}" --if-exists "$PGBENCH_DB" || true

        # 5. The sale's own writes, straight into the database: the ceiling of bookings/s here.
        log "pgbench the sale's writes on $CEILING_DB"
        createdb "${PGHOST_ARGS[@]}" "$CEILING_DB"
        MADE_DBS+=("$CEILING_DB")
        DATABASE_URL="$PG/$CEILING_DB" JWT_SECRET="$JWT_SECRET" "$SERVER_BIN" migrate > "$OUT/ceiling-init.log" 2>&1
        psql "${PGHOST_ARGS[@]}" -d "$CEILING_DB" -q -f bench/booking_ceiling.sql >> "$OUT/ceiling-init.log" 2>&1
        # With the planner setting the server's connections use (adapters::postgres).
        PGOPTIONS="-c random_page_cost=1.1" \
            pgbench "${PGHOST_ARGS[@]}" -n -M prepared -c 10 -j 2 -T 20 -f bench/booking_ceiling.pgb "$CEILING_DB" 2>&1 \
            | tee "$OUT/booking-ceiling.log" | tee -a "$OUT/run.log"
        tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$OUT/booking-ceiling.log")
        if [[ -n "$tps" ]]; then
            printf '{"scenario":"booking-ceiling","label":"postgres","tps":%s,"clients":10,"threads":2,"seconds":20}\n' \
                "$tps" >> "$JSON"
        else
            echo "*** could not read tps from the booking ceiling's pgbench output" | tee -a "$OUT/run.log"
        fi
        dropdb "${PGHOST_ARGS[@]}" --if-exists "$CEILING_DB" || true
    else
        echo "*** pgbench is not installed: no database ceiling to compare with" | tee -a "$OUT/run.log"
    fi
else
    echo "*** PostgreSQL does not answer on 127.0.0.1:5432 as postgres: PostgreSQL runs skipped" | tee -a "$OUT/run.log"
    FAILED=1
fi

log "summary"
report_status=0
"$LOADGEN" report --results "$JSON" > "$OUT/summary.md" || report_status=$?
cat "$OUT/summary.md" | tee -a "$OUT/run.log"
cp "$OUT/summary.md" "$ROOT/bench/results/latest-summary.md"
echo "results: $OUT (results.jsonl, summary.md, run.log, server logs)"
if [[ $FAILED != 0 || $report_status != 0 ]]; then
    echo "*** FAILED: a scenario failed, or there were violations or 5xx answers (see above)" >&2
    exit 1
fi
