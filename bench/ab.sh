#!/usr/bin/env bash
# One server binary against another, on this machine, in one run (the machine is noisy: compare
# within a run, never across runs):
#
#     bash bench/ab.sh BASE_BINARY HEAD_BINARY
#
# e.g. the release build of the commit before a change, copied aside, against the current one.
# Memory store, BCRYPT_COST=4, the throttles of one address of robots off (bench/lib.sh). For
# each of BENCH_AB_ROUNDS (3) rounds, base then head: `browse` of seat maps only (64 readers, an
# event of 1000 seats, BENCH_DURATION seconds, default 10; the load generator does not ask for
# compression) and `onsale` (64 buyers, 1000 seats, BENCH_ROUNDS_MEMORY sales, default 5).
# Prints each figure per round and the medians (bench/results/ab-<stamp>/summary.md).
# BENCH_AB_STORE=postgres runs both on PostgreSQL instead (BENCH_PG), each round of each side on
# a fresh database of its own, with BENCH_ROUNDS_PG (3) sales; the databases are dropped on exit.
# BENCH_AB_BASE_ENV and BENCH_AB_HEAD_ENV add settings to one side (VAR=value words; `{db}` is
# that round's database), so that one binary can be compared with itself configured two ways,
# e.g. directly against through pgbouncer:
#     BENCH_AB_STORE=postgres BENCH_AB_HEAD_ENV="DATABASE_POOL_MODE=transaction \
#       DATABASE_URL=postgres://postgres@127.0.0.1:6432/{db} DATABASE_DIRECT_URL=$BENCH_PG/{db}" \
#       bash bench/ab.sh target/release/wartawa target/release/wartawa
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh
bench_init ab- 18547
trap cleanup EXIT

BASE_BIN=$(realpath "$1")
HEAD_BIN=$(realpath "$2")
ROUNDS=${BENCH_AB_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}
SALES=${BENCH_ROUNDS_MEMORY:-5}
STORE=${BENCH_AB_STORE:-memory}
[[ $STORE == postgres ]] && SALES=${BENCH_ROUNDS_PG:-3}
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "cargo build --release -p wartawa-loadgen"
    cargo build --release -p wartawa-loadgen
fi

for round in $(seq 1 "$ROUNDS"); do
    for side in base head; do
        if [[ $side == base ]]; then SERVER_BIN=$BASE_BIN; else SERVER_BIN=$HEAD_BIN; fi
        store=()
        if [[ $STORE == postgres ]]; then
            db="wartawa_ab_$(echo "$STAMP" | tr 'A-Z' 'a-z')_${side}_${round}"
            createdb "${PGHOST_ARGS[@]}" "$db"
            MADE_DBS+=("$db")
            store=(DATABASE_URL="$PG/$db" JWT_SECRET="$JWT_SECRET")
        fi
        if [[ $side == base ]]; then extra=${BENCH_AB_BASE_ENV:-}; else extra=${BENCH_AB_HEAD_ENV:-}; fi
        # shellcheck disable=SC2206 # words on purpose
        store+=(${extra//\{db\}/${db:-}})
        start_server "$side-$round" BCRYPT_COST=4 DRAIN_SECS=0 "${store[@]}"
        log "round $round, $side: browse"
        "$LOADGEN" --base-url "$BASE" --json-out "$JSON" --label "$side" \
            --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
            browse -c 64 -d "$DURATION" -s 1000 --seat-share 1.0 | tee -a "$OUT/run.log"
        log "round $round, $side: onsale"
        "$LOADGEN" --base-url "$BASE" --json-out "$JSON" --label "$side" \
            --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" \
            onsale -c 64 -s 1000 --rounds "$SALES" --server-pid "$SERVER_PID" | tee -a "$OUT/run.log"
        stop_server
    done
done

python3 - "$JSON" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
FIGURES = {
    "browse": [("seat maps req/s (1000 seats)", "seat_map_rps"), ("seat map p99 ms", "seat_map_p99_ms")],
    "onsale": [("onsale bookings/s", "bookings_per_s"), ("onsale p99 POST /api/bookings ms", "book_p99_ms"),
               ("server CPU ms per booking", "server_cpu_ms_per_booking")],
}
table = {}
for row in rows:
    for name, key in FIGURES.get(row.get("scenario"), []):
        if row.get(key) is not None:
            table.setdefault(name, {}).setdefault(row["label"], []).append(row[key])
    if row.get("violations") or row.get("server_errors_5xx"):
        print(f"*** {row['label']} {row['scenario']}: violations {row.get('violations')}, 5xx {row.get('server_errors_5xx')}")
print("| figure | base (each round) | head (each round) | median head / base |")
print("|---|---|---|---:|")
for name, sides in table.items():
    base, head = sides.get("base", []), sides.get("head", [])
    ratio = statistics.median(head) / statistics.median(base) if base and head else float("nan")
    print(f"| {name} | {', '.join(f'{v:.4g}' for v in base)} | {', '.join(f'{v:.4g}' for v in head)} | {ratio:.3f} |")
PY
