#!/usr/bin/env bash
# A client generated from the OpenAPI document, used for a whole sale against the real server:
# the document (`wartawa openapi`) becomes TypeScript types (openapi-typescript), the flow in
# clients/typescript/src/flow.ts is compiled against them (tsc, strict) and run against the
# `wartawa` binary on the memory store (openapi-fetch): sign up, log in, put a show on sale, book,
# meet a taken seat, pay, check in once. It fails when the document changes under the client or
# the server answers other than its document says.
#
# Usage: bash .ci/client.sh   (CI calls it after the tests pass; it needs node, npm and the npm registry)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "client: $*"; }
fail() {
    echo "client: FAILED: $*" >&2
    exit 1
}
command -v node >/dev/null 2>&1 || fail "node is needed"
command -v npm >/dev/null 2>&1 || fail "npm is needed"

work=$(mktemp -d "${TMPDIR:-/tmp}/wartawa-client-run.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

say "building the server"
cargo build --quiet -p bootstrap
binary="$(pwd)/${CARGO_TARGET_DIR:-target}/debug/wartawa"
[ -x "$binary" ] || fail "no server binary at $binary"

cd clients/typescript
say "installing the client's tools (package-lock.json)"
timeout 600 npm ci --no-audit --no-fund --loglevel=error >/dev/null || fail "npm ci"
say "generating the client from the document"
(cd "$work" && env -u DATABASE_URL -u DB_URL "$binary" openapi) > openapi.json
npx --no-install openapi-typescript openapi.json -o src/api.d.ts >/dev/null || fail "openapi-typescript"
say "compiling the client flow against it"
npx --no-install tsc -p tsconfig.json || fail "the client does not compile against the document"

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
base="http://127.0.0.1:$port"
admin_email=client-admin@example.com
admin_password=client-admin-password
(
    cd "$work"
    exec env -u DATABASE_URL -u DB_URL APP_HOST=127.0.0.1 APP_PORT="$port" BCRYPT_COST=4 \
        ADMIN_EMAIL="$admin_email" ADMIN_PASSWORD="$admin_password" RUST_LOG=warn NO_COLOR=1 \
        "$binary" serve
) >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do
    curl -fsS --max-time 2 "$base/health" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 40 "$work/server.log" >&2; fail "the server stopped during start-up"; }
    sleep 0.5
done
say "running the flow against $base"
node dist/flow.js "$base" "$admin_email" "$admin_password" || {
    tail -n 40 "$work/server.log" >&2
    fail "the client flow failed"
}
say "passed"
