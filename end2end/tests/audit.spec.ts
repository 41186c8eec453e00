import { test, expect } from "@playwright/test";
import { acceptInNewContext, invite, open, signUp, uniqueEmail } from "./helpers";

test("an Admin reads a member's key events, filters by the key, and finds it by its secret", async ({ page, browser }) => {
  await signUp(page, uniqueEmail("auditor"), "Audit lab");
  const memberEmail = uniqueEmail("member");
  const link = await invite(page, memberEmail, "Read & write");
  const member = await acceptInNewContext(browser, link);

  // The member creates a key, keeps its secret, and revokes a second one.
  await open(member.page, "/keys");
  const create = async (name: string) => {
    await member.page.getByRole("button", { name: "Create a key" }).first().click();
    await member.page.getByLabel("Name").fill(name);
    await member.page.getByRole("button", { name: "Create key" }).click();
    const secret = (await member.page.getByTestId("new-key-secret").textContent())!.trim();
    await member.page.getByRole("button", { name: "I have copied it" }).click();
    return secret;
  };
  const kept = await create("Deploy bot");
  await create("Old laptop");
  const row = member.page.getByRole("row", { name: /Old laptop/ });
  await row.getByRole("button", { name: "Revoke" }).click();
  await row.getByRole("button", { name: "Revoke key" }).click();
  await expect(row.getByText("Revoked")).toBeVisible();
  await member.context.close();

  await open(page, "/audit");
  await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  const events = page.getByRole("list", { name: "Events, newest first" });
  // Each event is a sentence: who, from where, did what to which key.
  const revokedEvent = events.getByRole("listitem").filter({ hasText: "revoked key “Old laptop”" });
  await expect(revokedEvent).toContainText(`${memberEmail} (from 127.0.0.1) revoked key “Old laptop”`);
  await expect(events.getByRole("listitem").filter({ hasText: "created key “Deploy bot”" })).toContainText(memberEmail);

  // Only key events.
  await page.getByLabel("Action").selectOption({ label: "Key revoked" });
  await expect(events.getByText(/revoked key “Old laptop”/)).toBeVisible();
  await expect(events.getByText(/created key/)).toHaveCount(0);
  await page.getByLabel("Action").selectOption({ label: "Any action" });

  // Whose key is this? Paste the secret; then show that key's events only.
  await page.getByLabel("Key secret").fill(kept);
  await page.getByRole("button", { name: "Find key" }).click();
  const found = page.getByTestId("found-key");
  await expect(found).toContainText("Deploy bot");
  await expect(found).toContainText(memberEmail);
  await expect(page.getByLabel("Key secret")).toHaveValue("");
  await found.getByRole("button", { name: "Show this key's events" }).click();
  await expect(page.getByTestId("key-filter")).toBeVisible();
  await expect(events.getByText(/created key “Deploy bot”/)).toBeVisible();
  await expect(events.getByText(/Old laptop/)).toHaveCount(0);
});
