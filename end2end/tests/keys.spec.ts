import { test, expect } from "@playwright/test";
import { acceptInNewContext, invite, open, signUp, uniqueEmail } from "./helpers";

test("create a key, copy it, use it, revoke it, and it stops working", async ({ page, context, request }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signUp(page, uniqueEmail("keys"), "Key lab");

  await expect(page.getByRole("heading", { name: "You have no keys yet" })).toBeVisible();
  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("CI deploy job");
  await dialog.getByRole("button", { name: "Create key" }).click();

  const secretDialog = page.getByRole("dialog", { name: /Your new key/ });
  await expect(secretDialog.getByText("this is the only time keyward shows it")).toBeVisible();
  const shown = (await secretDialog.getByTestId("new-key-secret").textContent())!.trim();
  expect(shown).toMatch(/^kw_[0-9A-Za-z]{38}$/);
  await secretDialog.getByRole("button", { name: "Copy key" }).click();
  await expect(secretDialog.getByRole("button", { name: "Copied ✓" })).toBeVisible();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(shown);
  await secretDialog.getByRole("button", { name: "I have copied it" }).click();
  await expect(secretDialog).toHaveCount(0);

  const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${copied}` }, data: {} });
  expect(me.status()).toBe(200);
  expect((await me.json()).via).toBe("user_key");

  const row = page.getByRole("row", { name: /CI deploy job/ });
  await expect(row.getByText("Active")).toBeVisible();
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row.getByText("Revoke “CI deploy job”?")).toBeVisible();
  await row.getByRole("button", { name: "Revoke key" }).click();
  await expect(row.getByText("Revoked")).toBeVisible();

  const after = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${copied}` }, data: {} });
  expect(after.status()).toBe(401);
  expect((await after.json()).error.code).toBe("unauthenticated");
});

test("a Read only member's key cannot create a check", async ({ page, browser, request }) => {
  await signUp(page, uniqueEmail("owner"), "Read only lab");
  const link = await invite(page, uniqueEmail("viewer"), "Read only");
  const viewer = await acceptInNewContext(browser, link);

  await open(viewer.page, "/keys");
  await viewer.page.getByRole("button", { name: "Create a key" }).first().click();
  await viewer.page.getByLabel("Name").fill("viewer script");
  await viewer.page.getByRole("button", { name: "Create key" }).click();
  const secret = (await viewer.page.getByTestId("new-key-secret").textContent())!.trim();

  const headers = { Authorization: `Bearer ${secret}` };
  const list = await request.post("/api/v1/checks/list", { headers, data: {} });
  expect(list.status()).toBe(200);
  const create = await request.post("/api/v1/checks/create", {
    headers,
    data: { name: "nope", kind: "api", url: "https://example.com", frequency_minutes: 5, activated: true },
  });
  expect(create.status()).toBe(403);
  expect((await create.json()).error.code).toBe("forbidden");
  await viewer.context.close();
});

test("rotate a key: a new secret at once, the old one kept for the grace period", async ({ page, request }) => {
  await signUp(page, uniqueEmail("rotator"), "Rotation lab");
  await page.getByRole("button", { name: "Create a key" }).first().click();
  await page.getByLabel("Name").fill("Deploy");
  await page.getByRole("button", { name: "Create key" }).click();
  const first = (await page.getByTestId("new-key-secret").textContent())!.trim();
  await page.getByRole("button", { name: "I have copied it" }).click();

  const row = page.getByRole("row", { name: /Deploy/ });
  await row.getByRole("button", { name: "Rotate" }).click();
  await row.getByLabel("Grace period").selectOption({ label: "Keep the old key 24 hours" });
  await row.getByRole("button", { name: "Rotate key" }).click();
  const dialog = page.getByRole("dialog", { name: /Your new key “Deploy”/ });
  await expect(dialog.getByText(/The old key keeps working until/)).toBeVisible();
  const second = (await dialog.getByTestId("new-key-secret").textContent())!.trim();
  expect(second).not.toBe(first);
  await dialog.getByRole("button", { name: "I have copied it" }).click();

  await expect(page.getByText("Rotated", { exact: true })).toBeVisible();
  for (const secret of [first, second]) {
    const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` }, data: {} });
    expect(me.status()).toBe(200);
  }
});
