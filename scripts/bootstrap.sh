#!/usr/bin/env bash
# Installs what building keyward needs, skipping whatever is already present:
# the Wasm target, cargo-leptos 0.3.10 and the wasm-bindgen CLI that matches Cargo.lock.
# With --release it adds wasm-opt (npm binaryen, in .tools/binaryen); with --e2e, everything the
# tests need: wasm-opt, the end-to-end npm packages (Playwright, and oidc-provider, the OpenID
# provider the single sign-on tests sign in through), Chromium, and schemathesis, the Standard
# Webhooks library and scim2-client (in .tools/venv).
# Why these: cargo-leptos 0.3.11 needs a newer rustc than 1.95, `no_downloads` makes it fail
# clearly instead of fetching tools; the wasm-bindgen CLI must equal Cargo.lock's version;
# Debian's binaryen is too old for current Rust output; Playwright cannot download browsers here.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: install Rust with rustup first (https://rustup.rs)." >&2
  exit 1
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null || true)" != "cargo-leptos 0.3.10" ]; then
  say "Installing cargo-leptos 0.3.10 (a one-time build of about 25 minutes)"
  cargo install cargo-leptos@0.3.10 --locked --features no_downloads
fi

wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $wasm_bindgen_version" ]; then
  say "Installing wasm-bindgen-cli $wasm_bindgen_version (matches Cargo.lock)"
  # Some releases' own lockfiles pin crates the registry no longer serves: fall back to unlocked.
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --locked \
    || cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# wasm-opt for release builds: Debian's binaryen is too old for current Rust output.
if [ "${1:-}" = "--release" ] || [ "${1:-}" = "--e2e" ]; then
  if [ ! -x .tools/binaryen/node_modules/.bin/wasm-opt ]; then
    say "Installing wasm-opt (npm binaryen 132) into .tools/binaryen"
    mkdir -p .tools/binaryen
    (cd .tools/binaryen && npm install --no-audit --no-fund --silent binaryen@132)
  fi
fi

if [ "${1:-}" = "--e2e" ]; then
  if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    say "Installing Chromium from Debian (Playwright cannot download browsers here)"
    if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium
    else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi
  fi
  if [ "$(.tools/venv/bin/st --version 2>/dev/null || true)" != "st, version 4.32.5" ]; then
    say "Installing schemathesis 4.32.5 into .tools/venv (API fuzzing)"
    python3 -m venv .tools/venv
    .tools/venv/bin/pip install --quiet --disable-pip-version-check schemathesis==4.32.5
  fi
  # The webhook test's receiver verifies deliveries with the official Standard Webhooks library.
  if ! .tools/venv/bin/python -c 'import standardwebhooks' 2>/dev/null; then
    say "Installing standardwebhooks 1.1.0 into .tools/venv (the webhook receiver's verifier)"
    .tools/venv/bin/pip install --quiet --disable-pip-version-check standardwebhooks==1.1.0
  fi
  # The SCIM test drives keyward with a real SCIM client library.
  if ! .tools/venv/bin/python -c 'import scim2_client, httpx2' 2>/dev/null; then
    say "Installing scim2-client 0.13.2 into .tools/venv (the SCIM test's client)"
    .tools/venv/bin/pip install --quiet --disable-pip-version-check 'scim2-client[httpx2]==0.13.2'
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "Installing the end-to-end test packages"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
fi
