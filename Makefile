# The two commands of the README. Each installs what is missing first (scripts/bootstrap.sh).
.PHONY: run test setup test-setup

# Build and serve keyward at http://127.0.0.1:3000 with SQLite in ./data.
run: setup
	cargo leptos serve

# Everything CI runs: formatting, lints, unit and integration tests (SQLite, and PostgreSQL when
# it is reachable), then the Playwright suite in Chromium against a freshly built server.
test: test-setup
	scripts/test.sh

setup:
	scripts/bootstrap.sh

test-setup:
	scripts/bootstrap.sh --e2e
