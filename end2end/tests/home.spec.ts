import { test, expect } from "@playwright/test";
import { PASSWORD, uniqueEmail } from "./helpers";

test("the home page renders on the server and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "API keys that belong to people" })).toBeVisible();

  // Only a hydrated page reacts to this button: it toggles a signal, with no navigation.
  const toggle = page.getByRole("button", { name: "How does keyward work?" });
  await expect(page.locator("#how-it-works")).toHaveCount(0);
  const urlBefore = page.url();
  await expect(async () => {
    await toggle.click();
    await expect(page.locator("#how-it-works")).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByRole("button", { name: "Hide how keyward works" })).toHaveAttribute("aria-expanded", "true");
  expect(page.url()).toBe(urlBefore);
  expect(errors).toEqual([]);
});

test("the first download holds the entry forms; a signed-in page's code arrives when it is opened", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const lazyCode: string[] = [];
  page.on("response", (response) => {
    const name = response.url().split("/pkg/")[1] ?? "";
    // Each lazy route's or lazy function's own code is split_<name>_….wasm (see `lazy_routes!`
    // in src/app.rs: /keys is `keys_route`, the account's list `account_keys_route`).
    if (name.startsWith("split_")) lazyCode.push(name.replace(/^split_+/, "").replace(/_view_.*|_\d+\..*/, ""));
  });
  await page.goto("/");
  await page.locator("body[data-hydrated]").waitFor();
  expect(lazyCode).toEqual([]);

  // Client-side navigation to the sign-up form: it came with the first download.
  await page.getByRole("link", { name: "Create an account" }).first().click();
  await expect(page.getByLabel("Account name")).toBeVisible();
  expect(lazyCode).toEqual([]);
  await page.getByLabel("Account name").fill("Chunks");
  await page.getByLabel("Email").fill(uniqueEmail("chunks"));
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/keys$/);
  await expect(page.getByRole("button", { name: "Create a key" }).first()).toBeVisible();
  // (With the keys page come the top bar's banners, lazy functions of their own.)
  expect(lazyCode).toContain("keys_route");
  expect(lazyCode).not.toContain("account_keys_route");
  expect(lazyCode).not.toContain("create_key_dialog");

  // The dialog that creates a key is fetched when it is first asked for, and then works.
  await page.getByRole("button", { name: "Create a key" }).first().click();
  await expect(page.getByLabel("Name")).toBeVisible();
  expect(lazyCode).toContain("create_key_dialog");
  expect(errors).toEqual([]);
});
