import { expect, Page, Browser } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";

/**
 * The second server (playwright.config.ts starts it): a proof of the person lasts 10 s there.
 * Reached as localhost: browsers take passkeys only for a domain name, never an IP address.
 */
export const SHORT_PROOF_URL = process.env.KEYWARD_SHORT_PROOF_URL ?? "http://localhost:3001";

/** The third server (playwright.config.ts): single sign-on through the test OpenID provider. */
export const SSO_URL = process.env.KEYWARD_SSO_URL ?? "http://localhost:3002";

/** A unique email address for this run, so the suite can run against a used database. */
export function uniqueEmail(who: string): string {
  return `${who}.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Opens `path` and waits until the page has hydrated (the app marks <body data-hydrated>). */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await page.locator("body[data-hydrated]").waitFor();
}

export async function signUp(page: Page, email: string, accountName: string) {
  await open(page, "/signup");
  await page.getByLabel("Account name").fill(accountName);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/keys$/);
}

/** Invites `email` with `roleLabel` from the members page and returns the invite link. */
export async function invite(page: Page, email: string, roleLabel: string): Promise<string> {
  await open(page, "/members");
  await page.getByLabel("Email").fill(email);
  await page.locator("#invite-role").selectOption({ label: roleLabel });
  await page.getByRole("button", { name: "Create invite link" }).click();
  const link = page.locator(".invite-url");
  await expect(link).toBeVisible();
  return (await link.textContent())!.trim();
}

/** Opens the invite link in a fresh browser context (another person) and accepts it. */
export async function acceptInNewContext(browser: Browser, inviteUrl: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await open(page, inviteUrl);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Accept invitation" }).click();
  await expect(page).toHaveURL(/\/checks$/);
  return { context, page };
}

/** Signs out from the top bar and waits until the page says so. */
export async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("link", { name: "Sign in" }).first()).toBeVisible();
}
