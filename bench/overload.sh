#!/usr/bin/env bash
# The overload scenario alone (issue "Hardening", item 6), from the repository root:
#
#     bash bench/overload.sh
#
# Builds the release server and the load generator, then runs `loadgen overload` on the memory
# store and on PostgreSQL (a fresh database), each against a server of its own (BCRYPT_COST=4,
# MAX_TICKETS_PER_USER=0, the per-address and per-customer throttles off, as in bench/run.sh):
#   1. baseline: the on-sale load, 64 closed-loop buyers for 10 s, each step on one of 250 events
#      of 1000 seats not sold out yet (at random): read its seat map, book 1-2 free seats and pay.
#      Their request rate R is the sustainable rate, their p99 the unloaded p99;
#   2. rush: open-loop arrivals at 10 × R a second for 10 s (seat maps, bookings, payments in the
#      baseline's proportions), each request started at its time whatever the others are doing;
#      every answer admitted, shed (503 with Retry-After and the error shape) or failed;
#   3. recovery: the 64 buyers again for 10 s, right after the rush: their p99, their 503s, and
#      how long after the rush the first 2 s without a 503 began;
# then every event's books are verified as after an on-sale. Target: the rush's admitted p99 ≤ 2 × the
# unloaded p99 (reported, not fatal); no 5xx but the documented 503, no violation (fatal). One row
# per run in bench/results/overload-<stamp>/overload.md; the JSON lines beside it.
#
# Knobs (environment): BENCH_OVERLOAD_IN_FLIGHT, a list of MAX_IN_FLIGHT_REQUESTS values (e.g.
# "16 32 64 256"): one run per value and store, labelled memory-inflight16 ...; unset: one run per
# store at the product default, labelled memory and postgres. BENCH_OVERLOAD_STORES ("memory
# postgres"), BENCH_OVERLOAD_DURATION (10 s a phase), BENCH_OVERLOAD_FACTOR (10),
# BENCH_OVERLOAD_CLIENTS (64), BENCH_OVERLOAD_EVENTS (250), BENCH_OVERLOAD_SEATS (1000 seats
# an event), BENCH_POOL_SIZE (DATABASE_POOL_SIZE of the PostgreSQL server), BENCH_PORT (18545),
# BENCH_PG, BENCH_RUST_LOG (info), BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1.
#
# Only loopback is used. Every server started here is stopped on exit, and the database made here
# is dropped (unless BENCH_KEEP_DB=1).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init overload- 18545
STORES=${BENCH_OVERLOAD_STORES:-memory postgres}
IN_FLIGHT=${BENCH_OVERLOAD_IN_FLIGHT:-}
DB="wartawa_overload_$(echo "$STAMP" | tr 'A-Z' 'a-z')"
trap cleanup EXIT
trap 'exit 130' INT TERM

machine_info | tee "$OUT/machine.txt"
build_release

# overload_each STORE [VAR=value ...]: one run per in-flight bound asked for (or one at the default).
overload_each() {
    local store=$1 bound
    shift
    if [[ -z "$IN_FLIGHT" ]]; then
        log "$store: overload"
        overload_run "$store-overload" "$store" "$@"
        return
    fi
    for bound in $IN_FLIGHT; do
        log "$store: overload, MAX_IN_FLIGHT_REQUESTS=$bound"
        overload_run "$store-overload-inflight$bound" "$store-inflight$bound" MAX_IN_FLIGHT_REQUESTS="$bound" "$@"
    done
}

for store in $STORES; do
    case $store in
        memory)
            overload_each memory
            ;;
        postgres)
            if ! postgres_up; then
                echo "*** PostgreSQL does not answer on 127.0.0.1:5432 as postgres: PostgreSQL runs skipped" | tee -a "$OUT/run.log"
                FAILED=1
                continue
            fi
            createdb "${PGHOST_ARGS[@]}" "$DB"
            MADE_DBS+=("$DB")
            pool=()
            [[ -n "${BENCH_POOL_SIZE:-}" ]] && pool=(DATABASE_POOL_SIZE="$BENCH_POOL_SIZE")
            overload_each postgres DATABASE_URL="$PG/$DB" JWT_SECRET="$JWT_SECRET" "${pool[@]}"
            ;;
        *)
            echo "*** unknown store '$store' in BENCH_OVERLOAD_STORES (memory, postgres)" >&2
            exit 2
            ;;
    esac
done

log "overload runs"
report_status=0
"$LOADGEN" report --overload --results "$JSON" > "$OUT/overload.md" || report_status=$?
cat "$OUT/overload.md" | tee -a "$OUT/run.log"
echo "results: $OUT (results.jsonl, overload.md, run.log, server logs)"
if [[ $FAILED != 0 || $report_status != 0 ]]; then
    echo "*** FAILED: a run failed, or saw failures or violations (see above)" >&2
    exit 1
fi
