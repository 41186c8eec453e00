import { defineConfig, devices } from "@playwright/test";

// cargo-leptos starts the server before running `npx playwright test` but does not wait for
// it; global-setup.ts waits for /healthz.
const baseURL = process.env.KEYWARD_URL ?? "http://127.0.0.1:3000";

// A second keyward, started here, whose proofs of a person last ten seconds instead of ten
// minutes: tests/two_step.spec.ts watches one expire there, without every other test racing a
// short window. The same build cargo-leptos just made, with a database of its own. And a third
// one with single sign-on, beside the OpenID provider it signs people in through.

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  webServer: [
    {
      command: "../target/debug/keyward",
      // Node may try localhost as ::1 only; the server listens on 127.0.0.1.
      url: "http://127.0.0.1:3001/healthz",
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
      stdout: "ignore",
      stderr: "pipe",
      env: {
        LEPTOS_SITE_ADDR: "127.0.0.1:3001",
        LEPTOS_SITE_ROOT: "../target/site",
        LEPTOS_OUTPUT_NAME: "keyward",
        LEPTOS_HASH_FILES: "true",
        KEYWARD_DATA_DIR: "../target/e2e-data-short-proof",
        KEYWARD_STEP_UP_SECONDS: "10",
        KEYWARD_SIGNUPS_PER_HOUR: "10000",
      },
    },
    // A real OpenID provider (npm oidc-provider) with keyward's client registered, and a third
    // keyward that signs people in through it (tests/sso.spec.ts).
    {
      command: "node fixtures/oidc-provider.mjs 3005",
      url: "http://127.0.0.1:3005/.well-known/openid-configuration",
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
      env: {
        OIDC_CLIENTS: JSON.stringify([
          {
            client_id: "keyward-e2e",
            client_secret: "e2e-only-secret",
            redirect_uris: ["http://localhost:3002/auth/oidc/callback"],
            grant_types: ["authorization_code"],
            response_types: ["code"],
          },
        ]),
      },
    },
    {
      command: "../target/debug/keyward",
      url: "http://127.0.0.1:3002/healthz",
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
      stdout: "ignore",
      stderr: "pipe",
      env: {
        LEPTOS_SITE_ADDR: "127.0.0.1:3002",
        LEPTOS_SITE_ROOT: "../target/site",
        LEPTOS_OUTPUT_NAME: "keyward",
        LEPTOS_HASH_FILES: "true",
        KEYWARD_DATA_DIR: "../target/e2e-data-sso",
        KEYWARD_SIGNUPS_PER_HOUR: "10000",
        KEYWARD_PUBLIC_URL: "http://localhost:3002",
        KEYWARD_OIDC_ISSUER: "http://127.0.0.1:3005",
        KEYWARD_OIDC_CLIENT_ID: "keyward-e2e",
        KEYWARD_OIDC_CLIENT_SECRET: "e2e-only-secret",
      },
    },
  ],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          // Debian's Chromium: Playwright cannot download its own browser on these machines.
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        },
      },
    },
  ],
});
