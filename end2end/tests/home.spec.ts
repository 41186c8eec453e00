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

test("the start page loads no other page's code; a page's code arrives when it is opened", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const pageChunks: string[] = [];
  page.on("response", (response) => {
    const name = response.url().split("/pkg/")[1] ?? "";
    // Each lazy route's code is split___<route>_view_….wasm (see `lazy_routes!` in src/app.rs:
    // the keys pages share `keys_routes`).
    if (name.startsWith("split___")) pageChunks.push(name.replace(/_view_.*/, ""));
  });
  await page.goto("/");
  await page.locator("body[data-hydrated]").waitFor();
  expect(pageChunks).toEqual([]);

  // Client-side navigation: the sign-up page's chunk is fetched, then the page works.
  await page.getByRole("link", { name: "Create an account" }).first().click();
  await expect(page.getByLabel("Account name")).toBeVisible();
  expect(pageChunks).toEqual(["split___signup_route"]);
  await page.getByLabel("Account name").fill("Chunks");
  await page.getByLabel("Email").fill(uniqueEmail("chunks"));
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/keys$/);
  await expect(page.getByRole("button", { name: "Create a key" }).first()).toBeVisible();
  expect(pageChunks).toEqual(["split___signup_route", "split___keys_routes"]);
  expect(errors).toEqual([]);
});
