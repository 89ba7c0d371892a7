# Shared by the CI scripts that drive a real server: messages, a work directory removed on exit,
# and the `wartawa` binary on the memory store, started on a free loopback port and stopped on exit.
# The caller sets CI_STEP (the word its messages start with) before sourcing this file.

say() { echo "$CI_STEP: $*"; }
fail() {
    echo "$CI_STEP: FAILED: $*" >&2
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/wartawa-$CI_STEP-run.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        # SIGTERM lets in-flight requests finish; after 10 s it is killed outright.
        for _ in $(seq 1 20); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Builds the server and sets `binary` to its absolute path.
build_server() {
    say "building the server"
    cargo build --quiet -p bootstrap
    binary="${CARGO_TARGET_DIR:-target}/debug/wartawa"
    [ -x "$binary" ] || fail "no server binary at $binary after cargo build -p bootstrap"
    binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
}

server_log_tail() {
    echo "---- last lines of the server log ----" >&2
    tail -n 40 "$work/server.log" >&2 || true
}

# start_server [NAME=value ...]: runs `wartawa serve` with these settings and waits until it
# answers /health; sets `base` and `server_pid`. It starts from the empty work directory, so that
# no .env is read, and without DATABASE_URL (which CI exports for the tests), so that the memory
# store is used.
start_server() {
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })') ||
        fail "no free port found (python3 or node is needed)"
    base="http://127.0.0.1:$port"
    say "starting the server on $base (its log is shown if anything fails)"
    (
        cd "$work"
        exec env -u DATABASE_URL -u DB_URL APP_HOST=127.0.0.1 APP_PORT="$port" BCRYPT_COST=4 \
            RUST_LOG="${RUST_LOG:-warn}" NO_COLOR=1 DRAIN_SECS=0 "$@" "$binary" serve
    ) >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 60); do
        curl -fsS --max-time 2 "$base/health" >/dev/null 2>&1 && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            server_log_tail
            fail "the server stopped during start-up"
        fi
        sleep 0.5
    done
    server_log_tail
    fail "the server did not answer $base/health within 30 s"
}
