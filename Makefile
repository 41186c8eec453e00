# The two commands of the README. Each installs what is missing first (scripts/bootstrap.sh).
.PHONY: run test test-cluster test-forward-auth test-webhooks test-scim release serve-release bench bench-audit bench-lists bench-storm bench-forward-auth bench-webhooks

# Build and serve keyward at http://127.0.0.1:3000 with SQLite in ./data.
run:
	scripts/bootstrap.sh
	cargo leptos serve --split

# Everything CI runs: formatting, lints, unit and integration tests (SQLite, and PostgreSQL when
# it is reachable), the Playwright suite in Chromium, API fuzzing and a release build.
test:
	scripts/bootstrap.sh --e2e
	scripts/test.sh

# Three instances behind haproxy on one PostgreSQL database and one Redis (also part of `test`).
test-cluster:
	scripts/bootstrap.sh
	scripts/test-cluster.sh

# The forward-auth recipes of README "Protect your own API" for real: nginx auth_request and
# Caddy forward_auth in front of a small service (also part of `test`).
test-forward-auth:
	scripts/bootstrap.sh
	scripts/test-forward-auth.sh

# Webhooks for real: a receiver verifying with the official Standard Webhooks library, a secret
# rotation, and kill -9 between a change and its delivery (also part of `test`).
test-webhooks:
	scripts/bootstrap.sh --e2e
	scripts/test-webhooks.sh

# SCIM with a real client library: PyPI scim2-client provisions people and switches one off,
# validating every answer against the SCIM schemas (also part of `test`).
test-scim:
	scripts/bootstrap.sh --e2e
	scripts/test-scim.sh

# An optimised build (size-optimised Wasm, with .br and .gz beside each file, served to browsers
# that accept them); `make serve-release` builds and runs it.
release:
	scripts/bootstrap.sh --release
	PATH="$(CURDIR)/.tools/binaryen/node_modules/.bin:$$PATH" cargo leptos build --release --precompress --split

serve-release: release
	LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=keyward LEPTOS_HASH_FILES=true target/release/keyward

# Every speed measure side by side on both engines, ending in one table: key checks against
# /healthz, at 1,000,000 keys, during a sign-in storm, keys/list, kept-alive files, the Wasm's
# size and a first visit in Chromium on two throttled links.
bench: release
	scripts/bootstrap.sh --e2e
	scripts/bench.sh

# The audit trail at 1,000,000 events: audit/list p99 and the export's peak memory, both engines.
bench-audit: release
	scripts/bench-audit.sh

# Lists at scale: keys/list p99 at 10,000 keys, account-keys/list p99 at 1,000,000, and the
# guards' cost on a key-authenticated call, both engines.
bench-lists: release
	scripts/bench-lists.sh

# Key traffic during a sign-in storm from 250 addresses: p99 against idle, both engines.
bench-storm: release
	scripts/bench-storm.sh

# Your own API behind keyward: nginx with auth_request ÷ straight to the same upstream (and the
# p99 the check adds), keys/verify ÷ /healthz, both engines.
bench-forward-auth: release
	scripts/bench-forward-auth.sh

# Webhook delivery delay under load: event recorded → received by a local receiver, p50/p99,
# while clients change checks as fast as they can, both engines.
bench-webhooks: release
	scripts/bootstrap.sh --e2e
	scripts/bench-webhooks.sh
