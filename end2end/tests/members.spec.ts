import { test, expect } from "@playwright/test";
import { acceptInNewContext, invite, open, signUp, uniqueEmail } from "./helpers";

test("sign up, invite a teammate, change their role, and they lose edit controls", async ({ page, browser }) => {
  const adminEmail = uniqueEmail("admin");
  const memberEmail = uniqueEmail("member");
  await signUp(page, adminEmail, "Acme");

  const link = await invite(page, memberEmail, "Read & write");
  expect(link).toMatch(/\/invite\/[A-Za-z0-9]+$/);

  const member = await acceptInNewContext(browser, link);
  await expect(member.page.getByRole("button", { name: "Create check" })).toBeVisible();

  // The Admin makes the member Read only.
  await open(page, "/members");
  const row = page.getByRole("row", { name: new RegExp(memberEmail.replace(/[.+]/g, "\\$&")) });
  const saved = page.waitForResponse((response) => response.url().endsWith("/api/v1/members/set-role"));
  await row.getByRole("combobox").selectOption({ label: "Read only" });
  expect((await saved).status()).toBe(200);
  await page.reload();
  await expect(row.getByRole("combobox")).toHaveValue("read_only");

  // The member's next page load has no edit controls, and says why.
  await open(member.page, "/checks");
  await expect(member.page.getByText("Your role is Read only")).toBeVisible();
  await expect(member.page.getByRole("button", { name: "Create check" })).toHaveCount(0);
  await open(member.page, "/members");
  await expect(member.page.getByRole("button", { name: "Create invite link" })).toHaveCount(0);

  // Sign out.
  await member.page.getByRole("button", { name: "Sign out" }).click();
  await expect(member.page).toHaveURL(/\/login$/);
  await open(member.page, "/checks");
  await expect(member.page.getByRole("heading", { name: "Please sign in" })).toBeVisible();
  await member.context.close();
});
