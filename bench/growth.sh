#!/usr/bin/env bash
# How cost grows with size, from the repository root:
#
#     bash bench/growth.sh
#
#   1. seat-map latency at 1k, 10k and 50k seats (events made through the API, 100 seats to a
#      row), on the memory store and on PostgreSQL: read again and again unchanged, and read
#      right after a booking changed it (then a booking and its cancellation, sequentially);
#   2. on PostgreSQL with 10k, then (in a second fresh database) 1M bookings already there,
#      seeded by bench/seed.sql: booking latency (sequential bookings of one seat, each
#      cancelled right after, on a fresh 1000-seat event), dashboard latency, the event list,
#      and the seat map of a seeded event (25k or 100k seats, most of them taken).
# Sequential requests (one at a time) unless said otherwise. Results in
# bench/results/growth-<stamp>/ (growth.md, results.jsonl, run.log).
#
# Knobs: BENCH_PORT (18544), BENCH_PG, BENCH_GROWTH_LEVELS ("10000 1000000"),
# BENCH_PROBES (200 requests per probe), BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init growth- 18544
LEVELS=${BENCH_GROWTH_LEVELS:-10000 1000000}
PROBES=${BENCH_PROBES:-200}
DB_PREFIX="wartawa_growth_$(echo "$STAMP" | tr 'A-Z' 'a-z')"
trap cleanup EXIT
trap 'exit 130' INT TERM

machine_info | tee "$OUT/machine.txt"
build_release

lg() { "$LOADGEN" --base-url "$BASE" --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" "$@"; }

# seat_map_curve LABEL: events of 1k, 10k, 50k seats made through the API, their maps probed.
seat_map_curve() {
    local label=$1 seats id n
    for seats in 1000 10000 50000; do
        id=$(lg create-event --seats "$seats" --seats-per-row 100 2>> "$OUT/run.log")
        n=$PROBES
        [[ $seats -ge 50000 ]] && n=$((PROBES / 2))
        loadgen "$label, $seats seats" probe --path "/api/events/$id/seats" --iterations "$n" --warmup 5
        loadgen "$label, $seats seats" book-probe --event-id "$id" --read-map --iterations "$((n / 2))"
    done
}

# A database the server has migrated (and stopped again), ready to seed.
fresh_database() {
    local db=$1
    createdb "${PGHOST_ARGS[@]}" "$db"
    MADE_DBS+=("$db")
    env -u DB_URL DATABASE_URL="$PG/$db" JWT_SECRET="$JWT_SECRET" "$SERVER_BIN" migrate >> "$OUT/run.log" 2>&1
}

pg_server() {
    local name=$1 db=$2
    start_server "$name" BCRYPT_COST=4 DATABASE_URL="$PG/$db" JWT_SECRET="$JWT_SECRET"
}

# 1. Seat maps on the memory store.
log "seat maps, memory store"
start_server memory BCRYPT_COST=4
seat_map_curve "memory"
stop_server

if ! postgres_up; then
    echo "*** PostgreSQL does not answer on 127.0.0.1:5432 as postgres: PostgreSQL curves skipped" | tee -a "$OUT/run.log"
    exit 1
fi

# 1b. Seat maps on PostgreSQL (an empty database).
log "seat maps, PostgreSQL"
fresh_database "${DB_PREFIX}_maps"
pg_server postgres-maps "${DB_PREFIX}_maps"
seat_map_curve "postgres"
stop_server
dropdb "${PGHOST_ARGS[@]}" --if-exists "${DB_PREFIX}_maps"

# 2. Bookings already in the database.
for level in $LEVELS; do
    db="${DB_PREFIX}_${level}"
    name="postgres, $level bookings"
    log "PostgreSQL with $level seeded bookings ($db)"
    fresh_database "$db"
    started=$SECONDS
    psql "${PGHOST_ARGS[@]}" -d "$db" -q -v bookings="$level" -v tag="g$level" -f "$ROOT/bench/seed.sql" > "$OUT/seed-$level.log" 2>&1 || {
        echo "*** seeding $level bookings failed:" | tee -a "$OUT/run.log"
        tail -n 20 "$OUT/seed-$level.log" | tee -a "$OUT/run.log"
        exit 1
    }
    seeded=$((SECONDS - started))
    sizes=$(psql "${PGHOST_ARGS[@]}" -d "$db" -Atc "select (select count(*) from bookings) || ' bookings, ' || (select count(*) from booking_seats) || ' booking seats, ' || (select count(*) from seats) || ' seats, ' || (select count(*) from users) || ' users, database ' || pg_size_pretty(pg_database_size(current_database()))")
    echo "seeded in ${seeded} s: $sizes" | tee -a "$OUT/run.log"
    printf '{"scenario":"seed","label":"%s","bookings":%s,"seconds":"%s","sizes":"%s"}\n' "$name" "$level" "$seeded" "$sizes" >> "$JSON"
    seeded_event=$(psql "${PGHOST_ARGS[@]}" -d "$db" -Atc "select min(id) from events")
    seeded_seats=$(psql "${PGHOST_ARGS[@]}" -d "$db" -Atc "select capacity from events where id = $seeded_event")

    pg_server "postgres-$level" "$db"
    loadgen "$name" book-probe --seats 1000 --iterations "$PROBES"
    loadgen "$name" probe --path /api/dashboard --as-admin --iterations "$PROBES"
    loadgen "$name" probe --path /api/events --iterations "$PROBES"
    loadgen "$name, seeded event of $seeded_seats seats" probe --path "/api/events/$seeded_event/seats" --iterations 50 --warmup 3
    loadgen "$name, seeded event of $seeded_seats seats" book-probe --event-id "$seeded_event" --read-map --iterations 30
    stop_server
    if [[ "${BENCH_KEEP_DB:-0}" != 1 ]]; then
        dropdb "${PGHOST_ARGS[@]}" --if-exists "$db"
    fi
done

log "growth curves"
"$LOADGEN" report --results "$JSON" --growth > "$OUT/growth.md" || FAILED=1
{
    echo
    echo "Seeding:"
    grep '"scenario":"seed"' "$JSON" | sed -E 's/.*"label":"([^"]*)".*"seconds":"([^"]*)","sizes":"([^"]*)".*/- \1: \3, seeded in \2 s/'
} >> "$OUT/growth.md"
cat "$OUT/growth.md" | tee -a "$OUT/run.log"
cp "$OUT/growth.md" "$ROOT/bench/results/latest-growth.md"
echo "results: $OUT"
if [[ $FAILED != 0 ]]; then
    echo "*** FAILED: a probe failed (see above)" >&2
    exit 1
fi
