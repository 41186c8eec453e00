import { test, expect } from "@playwright/test";
import { acceptInNewContext, invite, open, signUp, uniqueEmail } from "./helpers";

test("a service account gets a key, and a leaver's key is handed over to it before their removal", async ({ page, browser, request }) => {
  await signUp(page, uniqueEmail("sa-admin"), "Machines");
  const leaverEmail = uniqueEmail("leaver");
  const member = await acceptInNewContext(browser, await invite(page, leaverEmail, "Read & write"));
  const made = await member.page.request.post("/api/v1/keys/create", { data: { name: "CI deploy" } });
  expect(made.status()).toBe(201);
  const oldSecret = (await made.json()).secret as string;

  // Create the service account and give it a key, from the Members page.
  await open(page, "/members");
  const section = page.locator("section.service-accounts");
  await section.getByLabel("Name", { exact: true }).fill("CI");
  await section.getByLabel("What it is for").fill("Deploys from main");
  await section.getByLabel("Role", { exact: true }).selectOption({ label: "Read & write" });
  await section.getByRole("button", { name: "Create service account" }).click();
  const row = section.getByRole("row", { name: /CI/ });
  await expect(row).toContainText("Deploys from main");
  await expect(row).toContainText("None: the Admins manage its keys");
  await row.getByRole("button", { name: "New key" }).click();
  await section.getByLabel("Key name").fill("pipeline");
  await section.getByRole("button", { name: "Create key" }).click();
  const serviceSecret = (await section.getByTestId("new-key-secret").textContent())!.trim();
  await expect(row.getByRole("cell", { name: "1", exact: true })).toBeVisible();
  // Its keys are listed under it, for its custodians and the Admins to revoke or rotate.
  await row.getByRole("button", { name: "Keys" }).click();
  await expect(section.locator("tr.detail-row").getByRole("link", { name: "pipeline" })).toBeVisible();
  const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${serviceSecret}` }, data: {} });
  expect(me.status()).toBe(200);
  expect((await me.json()).via).toBe("service_key");

  // Remove the member, replacing their key with one of the service account first.
  const memberRow = page.getByRole("row", { name: new RegExp(leaverEmail.replace(/[.+]/g, "\\$&")) });
  await memberRow.getByRole("button", { name: "Remove…" }).click();
  const removal = page.locator("tr.detail-row", { hasText: "Removing" });
  const handOver = removal.locator(".hand-over");
  await expect(handOver).toContainText("CI deploy");
  await expect(handOver).toContainText("never used");
  await handOver.getByLabel("Replace with a key of").selectOption({ label: "CI (Read & write)" });
  await handOver.getByRole("button", { name: "Replace" }).click();
  const successor = (await handOver.getByTestId("new-key-secret").textContent())!.trim();
  expect(successor).not.toBe(oldSecret);
  await expect(handOver).toContainText("has no active key");
  await page.screenshot({ path: "test-results/hand-over.png", fullPage: true });
  await removal.getByRole("button", { name: "Remove", exact: true }).click();
  await removal.getByRole("button", { name: "Remove", exact: true }).click();
  await expect(page.getByRole("row", { name: new RegExp(leaverEmail.replace(/[.+]/g, "\\$&")) })).toHaveCount(0);

  // CI keeps working: the old secret through its grace, and the successor, both for the service account.
  for (const secret of [oldSecret, successor]) {
    const answer = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` }, data: {} });
    expect(answer.status()).toBe(200);
    const body = await answer.json();
    expect(body.via).toBe("service_key");
    expect(body.user).toBeNull();
    expect(body.service_account.name).toBe("CI");
  }
  await member.context.close();
});
