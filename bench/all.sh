#!/usr/bin/env bash
# Every table of BENCHMARKS.md, in one command, from the repository root (about 21 minutes):
#
#     bash bench/all.sh
#
# Builds once, then runs, one after the other on a machine left alone:
#   1. bench/run.sh: the on-sale, browsing, login-burst and overload scenarios on both stores,
#      pgbench's TPC-B and the booking ceiling as references, and the targets table;
#   2. bench/growth.sh: the growth curves (seat maps by size, bookings and the dashboard with 10k
#      and 1M bookings already there);
#   3. bench/overload.sh on PostgreSQL at MAX_IN_FLIGHT_REQUESTS 32, 48 and 64: the sweep that
#      chose the default bound;
#   4. bench/attacks.sh: browsing, buying and logins unloaded and under slow-client, password and
#      sign-up floods, on both stores.
# Each writes its own folder in bench/results/ and prints where; the knobs of each script apply
# (BENCH_OVERLOAD_IN_FLIGHT and BENCH_OVERLOAD_STORES replace the sweep's). Exits non-zero when
# any of the four does.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p bootstrap -p wartawa-loadgen
fi
export BENCH_SKIP_BUILD=1
failed=0
bash bench/run.sh || failed=1
bash bench/growth.sh || failed=1
BENCH_OVERLOAD_STORES=${BENCH_OVERLOAD_STORES:-postgres} \
    BENCH_OVERLOAD_IN_FLIGHT=${BENCH_OVERLOAD_IN_FLIGHT:-"32 48 64"} \
    bash bench/overload.sh || failed=1
bash bench/attacks.sh || failed=1
exit "$failed"
