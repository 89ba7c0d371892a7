#!/usr/bin/env bash
# The live seat map under an on-sale, from the repository root:
#
#     bash bench/live_seats.sh
#
# Builds the release server and the load generator, then, on PostgreSQL (a fresh database) and
# on the memory store, each against a server of its own (BCRYPT_COST=4, the per-address and
# per-customer throttles off as in bench/run.sh, MAX_CONNECTIONS_PER_ADDRESS=0 in particular:
# every listener comes from 127.0.0.1):
#   1. `loadgen onsale` (64 buyers, 1000 seats, R sales in a row) with 0, 1000 and 5000 live
#      listeners (`--listeners N`): N streams of `GET /api/events/{id}/seats/stream` opened on each
#      sale's event before it starts, each waited for until it has its snapshot. Reported: the
#      sale's paid bookings/s and booking latency; the delivery latency (the instant a listener
#      read a seat change less the instant the buyer read the answer that made it: the
#      booking's 201 for `held`, the payment's 200 for `sold`; a change read before the answer
#      counts as 0, and how many did is reported); the changes delivered against those
#      expected; the server's RSS per listener ((RSS with every snapshot sent − RSS before) / N)
#      and its CPU per listener ((CPU of the sale with N listeners − CPU of the sale with none) /
#      N). Each listener's map must equal `GET …/seats` after the sale and its versions must chain
#      (`since` = the version it held), or the run fails, as the books' checks do;
#   2. the sale with no listener again (how much the machine drifted), then the same sale with
#      buyers that pick seats from a stream of their own (`--pick-from-stream`) against the
#      default buyers that read `GET …/seats` before every try: 409s per paid booking, paid
#      bookings/s.
# Tables in bench/results/live-<stamp>/summary.md (`loadgen report --live`), one JSON line per
# run in results.jsonl, everything printed in run.log, the server logs beside them.
#
# Knobs (environment): BENCH_LIVE_STORES ("postgres memory"), BENCH_LIVE_LISTENERS ("0 1000
# 5000"), BENCH_LIVE_ROUNDS_PG (3) and BENCH_LIVE_ROUNDS_MEMORY (5) sales of BENCH_LIVE_SEATS
# (1000) seats per run, BENCH_LIVE_CLIENTS (64 buyers), BENCH_PORT (18547), BENCH_PG,
# BENCH_RUST_LOG (info), BENCH_POOL_SIZE, BENCH_SKIP_BUILD=1, BENCH_KEEP_DB=1.
#
# 5000 listeners hold 5000 sockets in the server and 5000 in the load generator: the open-file
# limit is raised to 65536 where allowed, else to the hard limit, and the run stops at once if that
# is below the largest listener count + 1000.
#
# Only loopback is used. Every server started here is stopped on exit (trap), and the database
# made here is dropped (unless BENCH_KEEP_DB=1).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init live- 18547
STORES=${BENCH_LIVE_STORES:-postgres memory}
LISTENERS=${BENCH_LIVE_LISTENERS:-0 1000 5000}
ROUNDS_PG=${BENCH_LIVE_ROUNDS_PG:-3}
ROUNDS_MEMORY=${BENCH_LIVE_ROUNDS_MEMORY:-5}
SEATS=${BENCH_LIVE_SEATS:-1000}
CLIENTS=${BENCH_LIVE_CLIENTS:-64}
DB="wartawa_live_$(echo "$STAMP" | tr 'A-Z' 'a-z')"
trap cleanup EXIT
trap 'exit 130' INT TERM

# Open files: the server and the load generator each hold one socket per listener.
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
most=0
for n in $LISTENERS; do
    if ((n > most)); then most=$n; fi
done
if (($(ulimit -n) < most + 1000)); then
    echo "*** the open-file limit is $(ulimit -n) (hard $(ulimit -Hn)): too few for $most listeners" >&2
    exit 2
fi

machine_info | tee "$OUT/machine.txt"
echo "open files: $(ulimit -n) (hard $(ulimit -Hn))" | tee -a "$OUT/machine.txt"
build_release

# sales ROUNDS LABEL: the sale with each listener count, again with none, then with buyers that
# pick from their own streams.
sales() {
    local rounds=$1 label=$2 n
    local common=(--clients "$CLIENTS" --seats "$SEATS" --rounds "$rounds")
    for n in $LISTENERS; do
        loadgen "$label" onsale "${common[@]}" --listeners "$n"
    done
    loadgen "$label" onsale "${common[@]}"
    loadgen "$label" onsale "${common[@]}" --pick-from-stream
}

for store in $STORES; do
    case $store in
        postgres)
            if ! postgres_up; then
                echo "*** PostgreSQL does not answer on 127.0.0.1:5432 as postgres: PostgreSQL runs skipped" | tee -a "$OUT/run.log"
                FAILED=1
                continue
            fi
            log "PostgreSQL: fresh database $DB"
            createdb "${PGHOST_ARGS[@]}" "$DB"
            MADE_DBS+=("$DB")
            pool=()
            [[ -n "${BENCH_POOL_SIZE:-}" ]] && pool=(DATABASE_POOL_SIZE="$BENCH_POOL_SIZE")
            start_server postgres BCRYPT_COST=4 DATABASE_URL="$PG/$DB" JWT_SECRET="$JWT_SECRET" "${pool[@]}"
            sales "$ROUNDS_PG" postgres
            stop_server
            ;;
        memory)
            log "memory store"
            start_server memory BCRYPT_COST=4
            sales "$ROUNDS_MEMORY" memory
            stop_server
            ;;
        *)
            echo "*** unknown store '$store' in BENCH_LIVE_STORES (postgres, memory)" >&2
            exit 2
            ;;
    esac
done

log "summary"
report_status=0
"$LOADGEN" report --live --results "$JSON" > "$OUT/summary.md" || report_status=$?
cat "$OUT/summary.md" | tee -a "$OUT/run.log"
echo "results: $OUT (results.jsonl, summary.md, run.log, server logs)"
if [[ $FAILED != 0 || $report_status != 0 ]]; then
    echo "*** FAILED: a run failed, or saw failures or violations (see above)" >&2
    exit 1
fi
