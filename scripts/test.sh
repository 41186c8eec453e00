#!/usr/bin/env bash
# The whole test suite. Called by `make test` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "Formatting and lints (both features)"
cargo fmt --check
# A target directory of its own: cargo-leptos builds with other flags, and sharing one would
# make each tool rebuild the other's artifacts.
CARGO_TARGET_DIR=target/clippy cargo clippy --features ssr --all-targets -- -D warnings
CARGO_TARGET_DIR=target/clippy cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings

# Every integration test runs on SQLite and on PostgreSQL. A PostgreSQL that does not answer
# fails the run, unless KEYWARD_SKIP_POSTGRES=1 explicitly asks for the SQLite half only.
postgres_url=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
postgres_host_port=$(printf '%s' "$postgres_url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
postgres_host=${postgres_host_port%:*}
postgres_port=${postgres_host_port##*:}
[ "$postgres_port" = "$postgres_host_port" ] && postgres_port=5432
if (exec 3<>"/dev/tcp/$postgres_host/$postgres_port") 2>/dev/null; then
  say "Integration tests run on SQLite AND PostgreSQL ($postgres_host:$postgres_port)"
elif [ "${KEYWARD_SKIP_POSTGRES:-}" = 1 ]; then
  say "Integration tests run on SQLite ONLY: PostgreSQL skipped (KEYWARD_SKIP_POSTGRES=1)"
else
  echo "PostgreSQL does not answer at $postgres_host:$postgres_port (KEYWARD_TEST_POSTGRES_URL)." >&2
  echo "Start it, or run with KEYWARD_SKIP_POSTGRES=1 to test on SQLite only." >&2
  exit 1
fi
export KEYWARD_TEST_POSTGRES_URL=$postgres_url

# Instances sharing limits need Redis (integration tests and the cluster test); the same rule.
redis_url=${KEYWARD_TEST_REDIS_URL:-redis://127.0.0.1:6379}
redis_host_port=${redis_url#redis://}
redis_answers=false
if (exec 3<>"/dev/tcp/${redis_host_port%:*}/${redis_host_port##*:}") 2>/dev/null; then
  redis_answers=true
  say "Shared limits are tested with Redis ($redis_host_port)"
elif [ "${KEYWARD_SKIP_REDIS:-}" = 1 ]; then
  say "Shared limits NOT tested: Redis skipped (KEYWARD_SKIP_REDIS=1)"
else
  echo "Redis does not answer at $redis_host_port (KEYWARD_TEST_REDIS_URL)." >&2
  echo "Start it, or run with KEYWARD_SKIP_REDIS=1 to leave the shared limits untested." >&2
  exit 1
fi
export KEYWARD_TEST_REDIS_URL=$redis_url

say "Unit and integration tests"
cargo leptos test

say "End-to-end tests (Playwright, Chromium)"
rm -rf target/e2e-data
# Every Playwright test signs people up from 127.0.0.1: lift the per-address sign-up quota. The
# webhook test receives on loopback and waits for an endpoint to fail: allow that, and fast.
# (The two-step test watches a proof expire on a second server of its own, which
# end2end/playwright.config.ts starts with a ten-second window; the single sign-on test uses a
# third, beside a test OpenID provider.)
rm -rf target/e2e-data-short-proof target/e2e-data-sso
KEYWARD_DATA_DIR=target/e2e-data KEYWARD_SIGNUPS_PER_HOUR=10000 KEYWARD_WEBHOOKS_ALLOW_PRIVATE=1 KEYWARD_WEBHOOK_RETRIES=1,1 \
  cargo leptos end-to-end --split

# Three instances behind haproxy on one PostgreSQL database and one Redis (the debug server
# cargo-leptos just built).
if $redis_answers && [ "${KEYWARD_SKIP_POSTGRES:-}" != 1 ]; then
  say "Three instances behind haproxy (scripts/test-cluster.sh)"
  BINARY=target/debug/keyward scripts/test-cluster.sh
else
  say "Cluster test skipped: it needs PostgreSQL and Redis"
fi

# nginx and Caddy with forward auth in front of a small service (installed from Debian when
# missing), as README "Protect your own API" configures them.
say "Forward auth behind nginx and Caddy (scripts/test-forward-auth.sh)"
BINARY=target/debug/keyward scripts/test-forward-auth.sh

# A receiver that verifies every delivery with the official Standard Webhooks library; a
# rotation; kill -9 of keyward between a change and its delivery.
say "Webhooks to a receiver using the official library (scripts/test-webhooks.sh)"
BINARY=target/debug/keyward scripts/test-webhooks.sh

# A real SCIM client library (scim2-client) provisions people, and switches one off.
say "SCIM with a real client library (scripts/test-scim.sh)"
BINARY=target/debug/keyward scripts/test-scim.sh

say "API fuzzing from the OpenAPI document (schemathesis)"
scripts/fuzz.sh

# The deployment build (size-optimised, split, precompressed): build one so nothing that only it
# would show can hide until someone deploys, and hold its first-visit Wasm to the budget.
say "Release build (size-optimised Wasm, precompressed)"
PATH="$PWD/.tools/binaryen/node_modules/.bin:$PATH" cargo leptos build --release --precompress --split
ls -l target/site/pkg/ | grep -v ' chunk_'
# The bundle's names carry a hash (keyward.<hash>.wasm): look for its brotli copy by pattern.
main_wasm=$(compgen -G 'target/site/pkg/keyward.*.wasm.br' | head -1)
[ -n "$main_wasm" ] || { echo "no precompressed Wasm" >&2; exit 1; }
# A budget: the Wasm every first visit downloads (the framework, the top bar, the start page and
# the three forms newcomers arrive on: sign-in, sign-up, invite; the signed-in pages are lazy
# chunks) stays at most 235,000 bytes on the wire. It was 200,000 before the forms joined it:
# as lazy routes each cost a second set of downloads that made them the slowest entry pages
# (README, Performance).
wasm_bytes=$(stat -c %s "$main_wasm")
echo "first-visit Wasm: $wasm_bytes bytes brotli (budget 235,000)"
[ "$wasm_bytes" -le 235000 ] || {
  echo "$main_wasm is over the budget: move what only some pages need into their lazy routes" >&2
  exit 1
}
