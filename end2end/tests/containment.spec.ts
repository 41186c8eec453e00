import { test, expect } from "@playwright/test";
import { invite, open, signUp, uniqueEmail, PASSWORD } from "./helpers";

test("an Admin sees a pending invite and withdraws it; the link then leads nowhere", async ({ page, browser }) => {
  await signUp(page, uniqueEmail("inviter"), "Invite lab");
  const guest = uniqueEmail("guest");
  const link = await invite(page, guest, "Read & write");

  const pending = page.getByRole("region", { name: "Pending invites" });
  const row = pending.getByRole("row", { name: new RegExp(guest) });
  await expect(row).toBeVisible();
  await expect(row.getByText("Read & write")).toBeVisible();
  await row.getByRole("button", { name: "Withdraw" }).click();
  await expect(row.getByText(`Withdraw the invite for ${guest}?`)).toBeVisible();
  await row.getByRole("button", { name: "Withdraw invite" }).click();
  await expect(pending.getByText("No invite is waiting to be accepted.")).toBeVisible();

  const context = await browser.newContext();
  const other = await context.newPage();
  await open(other, link);
  await other.getByLabel("Password").fill(PASSWORD);
  await other.getByRole("button", { name: "Accept invitation" }).click();
  await expect(other.getByRole("alert")).toContainText("This invite link is not valid.");
  await context.close();
});

test("changing the password signs out the other browser", async ({ page, browser }) => {
  const email = uniqueEmail("changer");
  await signUp(page, email, "Password lab");

  const context = await browser.newContext();
  const elsewhere = await context.newPage();
  await open(elsewhere, "/login");
  await elsewhere.getByLabel("Email").fill(email);
  await elsewhere.getByLabel("Password").fill(PASSWORD);
  await elsewhere.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(elsewhere).toHaveURL(/\/checks$/);

  await page.getByRole("link", { name: email }).click();
  await expect(page.getByRole("heading", { name: "Settings" })).toBeVisible();
  await page.locator("body[data-hydrated]").waitFor();
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password", { exact: true }).fill("a fresh long password");
  await page.getByLabel("New password again").fill("a fresh long password");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("status")).toContainText("Password changed");

  await open(elsewhere, "/checks");
  await expect(elsewhere.getByRole("heading", { name: "Please sign in" })).toBeVisible();
  await open(page, "/checks");
  await expect(page.getByRole("heading", { name: "Checks", exact: true })).toBeVisible();
  await context.close();
});

test("a key created by a key is shown with its parent", async ({ page, request }) => {
  await signUp(page, uniqueEmail("parent"), "Child lab");
  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("Provisioner");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const parentSecret = (await page.getByTestId("new-key-secret").textContent())!.trim();
  await page.getByRole("button", { name: "I have copied it" }).click();

  const created = await request.post("/api/v1/keys/create", {
    headers: { Authorization: `Bearer ${parentSecret}` },
    data: { name: "Nightly job" },
  });
  expect(created.status()).toBe(201);
  expect(created.headers()["set-cookie"]).toBeUndefined();

  await open(page, "/keys");
  const child = page.getByRole("row", { name: /Nightly job/ });
  await expect(child.getByText(/created by key “Provisioner”/)).toBeVisible();
  await page.screenshot({ path: "test-results/child-key.png", fullPage: true });
});
