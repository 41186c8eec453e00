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

postgres_url=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  say "PostgreSQL answers at 127.0.0.1:5432: integration tests run on SQLite and PostgreSQL"
else
  say "PostgreSQL is NOT reachable: the PostgreSQL half of the integration tests will be SKIPPED"
fi
export KEYWARD_TEST_POSTGRES_URL=$postgres_url

say "Unit and integration tests"
cargo leptos test

say "End-to-end tests (Playwright, Chromium)"
rm -rf target/e2e-data
KEYWARD_DATA_DIR=target/e2e-data cargo leptos end-to-end

say "API fuzzing from the OpenAPI document (schemathesis)"
scripts/fuzz.sh

# Release builds compile the views without type erasure, which debug builds use: build one so a
# view too deep for the compiler cannot hide until someone deploys.
say "Release build (size-optimised Wasm)"
PATH="$PWD/.tools/binaryen/node_modules/.bin:$PATH" cargo leptos build --release
ls -l target/site/pkg/
