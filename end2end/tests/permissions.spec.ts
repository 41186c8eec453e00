import { test, expect } from "@playwright/test";
import { open, signUp, uniqueEmail } from "./helpers";

test("a custom key: picked in the dialog, refused with the permission it lacks, narrowed to what it used", async ({ page, request }) => {
  await signUp(page, uniqueEmail("perms"), "Permission lab");
  const check = await page.request.post("/api/v1/checks/create", {
    data: { name: "Homepage", kind: "api", url: "https://example.com", frequency_minutes: 5, activated: true },
  });
  expect(check.status()).toBe(201);

  await open(page, "/keys");
  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("status updater");
  await dialog.getByLabel("Access", { exact: true }).selectOption({ label: "Custom: choose per resource" });
  // Checks start at read & write; add members read.
  await dialog.getByLabel("Members", { exact: true }).selectOption({ label: "Read" });
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.getByTestId("new-key-secret").textContent())!.trim();
  await page.getByRole("button", { name: "I have copied it" }).click();

  const row = page.getByRole("row", { name: /status updater/ });
  await expect(row.getByTestId("key-grant")).toHaveText("Checks: read & write · Members: read");

  const headers = { Authorization: `Bearer ${secret}` };
  const listed = await request.post("/api/v1/checks/list", { headers, data: {} });
  expect(listed.status()).toBe(200);
  const refused = await request.post("/api/v1/audit/list", { headers, data: {} });
  expect(refused.status()).toBe(403);
  const body = await refused.json();
  expect(body.error.code).toBe("forbidden");
  expect(body.error.missing_permission).toBe("audit:read");

  // Usage reaches the database within ten seconds; the key's page then offers to narrow it.
  await row.getByRole("link", { name: "status updater" }).click();
  await expect(page).toHaveURL(/\/keys\/key_/);
  await expect(page.getByTestId("key-permissions")).toBeVisible();
  const narrow = page.getByRole("button", { name: "Narrow this key to what it used" });
  await expect(async () => {
    await page.reload();
    await expect(narrow).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 25_000 });
  await expect(page.getByTestId("permissions-used")).toContainText("checks:read");
  await narrow.click();
  await expect(page.getByTestId("key-permissions")).toContainText("Checks: read");
  await expect(page.getByTestId("key-permissions")).not.toContainText("write");
  await expect(narrow).toHaveCount(0);

  const now = await request.post("/api/v1/checks/create", {
    headers,
    data: { name: "nope", kind: "api", url: "https://example.com", frequency_minutes: 5, activated: true },
  });
  expect(now.status()).toBe(403);
  expect((await now.json()).error.missing_permission).toBe("checks:write");
});
