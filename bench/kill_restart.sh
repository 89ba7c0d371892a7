#!/usr/bin/env bash
# The real thing behind tests/tests/postgres_faults.rs's "killed mid on-sale": the `wartawa`
# binary on PostgreSQL, killed with SIGKILL in the middle of an on-sale, started again over the
# same database. Then the books must agree (the same rules as the test) and every booking whose
# 201 or payment whose 200 reached a buyer must still be there. From the repository root:
#
#     bash bench/kill_restart.sh
#
# Knobs (environment): KILL_PG (postgres://postgres@127.0.0.1:5432), KILL_PORT (18544),
# KILL_BUYERS (8), KILL_SECONDS (seconds of on-sale before the kill, 4), KILL_ROUNDS (3),
# KILL_SKIP_BUILD=1 (use target/debug/wartawa as it is), KILL_KEEP_DB=1.
# Only loopback is used; the server, the buyers and the database are cleaned up on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
PG=${KILL_PG:-postgres://postgres@127.0.0.1:5432}
PORT=${KILL_PORT:-18544}
BASE="http://127.0.0.1:$PORT"
BUYERS=${KILL_BUYERS:-8}
SECONDS_BEFORE_KILL=${KILL_SECONDS:-4}
ROUNDS=${KILL_ROUNDS:-3}
DB="wartawa_kill_$(date -u +%Y%m%d%H%M%S)_$$"
WORK=$(mktemp -d)
ADMIN_EMAIL=admin@kill.test
ADMIN_PASSWORD=kill-restart-admin-1
SERVER_PID=""
BUYER_PIDS=()

cleanup() {
    for pid in "${BUYER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    if [[ -n "$SERVER_PID" ]]; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ "${KILL_KEEP_DB:-0}" != 1 ]]; then
        psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "${KILL_SKIP_BUILD:-0}" != 1 ]]; then
    cargo build -q -p bootstrap --bin wartawa
fi
SERVER_BIN=$(pwd)/target/debug/wartawa
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null

start_server() {
    (
        cd "$WORK"
        exec env -u DB_URL DATABASE_URL="$PG/$DB" APP_HOST=127.0.0.1 APP_PORT="$PORT" \
            JWT_SECRET=kill-restart-jwt-secret-0123456789abcdef BCRYPT_COST=4 \
            TICKET_SIGNING_KEY=a2lsbC1yZXN0YXJ0LXRpY2tldC1rZXktMDEyMzQ1Njc= \
            ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" MAX_TICKETS_PER_USER=0 \
            LOGIN_ATTEMPTS_PER_ADDRESS=0 BOOKINGS_PER_CUSTOMER=0 RUST_LOG=warn \
            "$SERVER_BIN" serve
    ) >> "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 120); do
        curl -sf -o /dev/null "$BASE/health" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$WORK/server.log" >&2; exit 1; }
        sleep 0.25
    done
    echo "*** the server did not answer /health within 30 s" >&2
    exit 1
}

# call METHOD PATH TOKEN BODY: prints "<status> <body>".
call() {
    local auth=()
    [[ -n "$3" ]] && auth=(-H "Authorization: Bearer $3")
    curl -s -m 30 -o "$WORK/reply.$BASHPID" -w '%{http_code}' -X "$1" "$BASE$2" \
        -H 'Content-Type: application/json' "${auth[@]}" ${4:+--data "$4"} || true
    printf ' '
    cat "$WORK/reply.$BASHPID" 2>/dev/null || true
    echo
}

login() { call POST /api/users/login "" "{\"email\":\"$1\",\"password\":\"$2\"}" | cut -d' ' -f2- | jq -r .token; }

start_server
ADMIN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
in_days() { date -u -d "+$1 days" +%Y-%m-%dT%H:%M:%SZ; }
EVENT=$(call POST /api/events "$ADMIN" "{\"name\":\"Kill Restart\",\"date\":\"$(in_days 30)\",\"venue\":\"Loopback\",
  \"seats_per_row\":20,\"phases\":[
    {\"name\":\"Early Bird\",\"price\":50000,\"quota\":100,\"start_date\":\"$(in_days -1)\",\"end_date\":\"$(in_days 10)\"},
    {\"name\":\"Regular\",\"price\":100000,\"quota\":200,\"start_date\":\"$(in_days -1)\",\"end_date\":\"$(in_days 29)\"}]}" \
    | cut -d' ' -f2- | jq -r .id)
[[ "$EVENT" =~ ^[0-9]+$ ]] || { echo "*** could not create the event" >&2; exit 1; }
mapfile -t SEATS < <(call GET "/api/events/$EVENT/seats" "" | cut -d' ' -f2- | jq -r '.[].id')
TOKENS=()
for n in $(seq 1 "$BUYERS"); do
    email="buyer$n@kill.test"
    call POST /api/users "" "{\"name\":\"Buyer $n\",\"email\":\"$email\",\"password\":\"buyer-pass-1\"}" >/dev/null
    TOKENS+=("$(login "$email" buyer-pass-1)")
done

# buyer N TOKEN: books 1-3 adjacent seats at random and pays most bookings, forever; writes what
# it was told to $WORK/told.N ("booked CODE" after a 201, "paid CODE" after a 200).
buyer() {
    local n=$1 token=$2 reply status code want first ids
    while true; do
        want=$((RANDOM % 3 + 1))
        first=$((RANDOM % (${#SEATS[@]} - want)))
        ids=$(IFS=,; echo "${SEATS[*]:$first:$want}")
        reply=$(call POST /api/bookings "$token" "{\"event_id\":$EVENT,\"seat_ids\":[$ids],\"quantity\":$want}")
        status=${reply%% *}
        [[ "$status" == 201 ]] || continue
        code=$(jq -r .booking_code <<<"${reply#* }")
        echo "booked $code" >> "$WORK/told.$n"
        if ((RANDOM % 10 < 7)); then
            total=$(jq -r .total_price <<<"${reply#* }")
            reply=$(call POST "/api/bookings/$code/pay" "$token" "{\"amount\":$total,\"method\":\"BCA Virtual Account\"}")
            [[ "${reply%% *}" == 200 ]] && echo "paid $code" >> "$WORK/told.$n"
        fi
    done
}

# The books' checks, shared with bench/fleet.sh.
SQL_CHECKS=$(cat bench/books.sql)

FAILED=0
for round in $(seq 1 "$ROUNDS"); do
    BUYER_PIDS=()
    for n in $(seq 1 "$BUYERS"); do
        buyer "$n" "${TOKENS[$((n - 1))]}" &
        BUYER_PIDS+=($!)
    done
    sleep "$SECONDS_BEFORE_KILL"
    # Killed the moment the server is seen inside a statement or a transaction (a few hundred
    # looks at most), so that the kill is likely to cut one.
    for _ in $(seq 1 300); do
        in_flight=$(psql "$PG/$DB" -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
            AND application_name = 'wartawa' AND state IN ('active', 'idle in transaction')")
        ((in_flight > 0)) && break
    done
    kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    for pid in "${BUYER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    BUYER_PIDS=()
    start_server

    problems=$(psql "$PG/$DB" -Atc "$SQL_CHECKS")
    cat "$WORK"/told.* > "$WORK/told" 2>/dev/null || true
    lost=0
    while read -r what code; do
        status=$(psql "$PG/$DB" -Atc "SELECT status FROM bookings WHERE code = '$code'")
        case "$what:$status" in
            booked:pending | booked:confirmed | paid:confirmed) ;;
            *) echo "*** told '$what $code', stored '${status:-nothing}'"; lost=$((lost + 1)) ;;
        esac
    done < "$WORK/told"
    counts=$(psql "$PG/$DB" -Atc "SELECT string_agg(status || ' ' || n, ', ') FROM
        (SELECT status, count(*) AS n FROM bookings GROUP BY status ORDER BY status) s")
    echo "round $round: killed with $in_flight statements in flight; bookings now: $counts; told: $(wc -l < "$WORK/told") answers, $lost not kept"
    if [[ -n "$problems" || "$lost" != 0 ]]; then
        echo "*** the books disagree after the kill:"; echo "$problems"
        FAILED=1
    fi
done
grep -E 'ERROR|panick' "$WORK/server.log" | head -n 20 || true
if [[ "$FAILED" == 0 ]]; then echo "OK: nothing half-written after $ROUNDS kills"; else exit 1; fi
