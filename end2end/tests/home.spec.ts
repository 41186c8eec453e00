import { test, expect } from "@playwright/test";

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
