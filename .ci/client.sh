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

CI_STEP=client
# shellcheck source=.ci/lib.sh
source .ci/lib.sh
command -v node >/dev/null 2>&1 || fail "node is needed"
command -v npm >/dev/null 2>&1 || fail "npm is needed"
command -v curl >/dev/null 2>&1 || fail "curl is needed"

build_server
cd clients/typescript
say "installing the client's tools (package-lock.json)"
timeout 600 npm ci --no-audit --no-fund --loglevel=error >/dev/null || fail "npm ci"
say "generating the client from the document"
(cd "$work" && env -u DATABASE_URL -u DB_URL "$binary" openapi) > openapi.json
npx --no-install openapi-typescript openapi.json -o src/api.d.ts >/dev/null || fail "openapi-typescript"
say "compiling the client flow against it"
npx --no-install tsc -p tsconfig.json || fail "the client does not compile against the document"

admin_email=client-admin@example.com
admin_password=client-admin-password
start_server ADMIN_EMAIL="$admin_email" ADMIN_PASSWORD="$admin_password"
say "running the flow against $base"
node dist/flow.js "$base" "$admin_email" "$admin_password" || {
    server_log_tail
    fail "the client flow failed"
}
say "passed"
