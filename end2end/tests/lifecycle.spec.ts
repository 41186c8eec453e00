import { test, expect, Page, Locator } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { open, signUp, uniqueEmail, PASSWORD } from "./helpers";

/** Presses Tab until `target` has the focus, as a keyboard user would (at most 40 times). */
async function tabTo(page: Page, target: Locator) {
  for (let i = 0; i < 40; i++) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error("Tab never reached the element");
}

/** Creates a key through the API with the page's session; returns { key, secret }. */
async function apiCreateKey(page: Page, body: object) {
  const response = await page.request.post("/api/v1/keys/create", { data: body });
  expect(response.status()).toBe(201);
  return response.json();
}

function inDays(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString();
}

test("create, copy and revoke a key with the keyboard alone", async ({ page, context, request }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signUp(page, uniqueEmail("keyboard"), "Keyboard lab");

  const create = page.getByRole("button", { name: "Create a key" }).first();
  await tabTo(page, create);
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  // The dialog takes the focus: typing goes into its first field.
  await expect(dialog.getByLabel("Name")).toBeFocused();
  await page.keyboard.type("Keyboard key");
  // Tab never reaches the page behind the modal dialog (it may pass through the browser's own
  // controls, where the document has no focused element).
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    const inside = await dialog.evaluate(
      (element) => element.contains(document.activeElement) || document.activeElement === document.body,
    );
    expect(inside).toBe(true);
  }
  await dialog.getByLabel("Name").focus();
  await page.keyboard.press("Enter");

  const secretDialog = page.getByRole("dialog", { name: /Your new key “Keyboard key”/ });
  const copyButton = secretDialog.getByRole("button", { name: "Copy key" });
  await expect(copyButton).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(secretDialog.getByRole("button", { name: "Copied ✓" })).toBeVisible();
  const secret = (await secretDialog.getByTestId("new-key-secret").textContent())!.trim();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  // Escape must not lose a secret shown once; the button closes it.
  await page.keyboard.press("Escape");
  await expect(secretDialog).toBeVisible();
  await page.keyboard.press("Tab");
  await expect(secretDialog.getByRole("button", { name: "I have copied it" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(secretDialog).toHaveCount(0);
  // Focus is back where the person started.
  await expect(create).toBeFocused();

  const row = page.getByRole("row", { name: /Keyboard key/ });
  await tabTo(page, row.getByRole("button", { name: "Revoke" }));
  await page.keyboard.press("Enter");
  await expect(row.getByRole("button", { name: "Revoke key" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(row.getByText("Revoked", { exact: true })).toBeVisible();
  const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` }, data: {} });
  expect(me.status()).toBe(401);
});

test("Escape closes the create dialog and gives focus back", async ({ page }) => {
  await signUp(page, uniqueEmail("escape"), "Escape lab");
  const create = page.getByRole("button", { name: "Create a key" }).first();
  await create.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("dialog", { name: "Create an API key" })).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog", { name: "Create an API key" })).toHaveCount(0);
  await expect(create).toBeFocused();
});

test("rotate with a 1-hour grace: both keys work, the old one says when it stops", async ({ page, request }) => {
  await signUp(page, uniqueEmail("grace"), "Grace lab");
  const { key, secret: first } = await apiCreateKey(page, { name: "Deploy" });
  await open(page, "/keys");
  const row = page.getByRole("row", { name: /Deploy/ });
  await row.getByRole("button", { name: "Rotate" }).click();
  await expect(row.getByLabel("Grace period")).toBeFocused();
  await row.getByLabel("Grace period").selectOption({ label: "Keep the old key 1 hour" });
  await row.getByRole("button", { name: "Rotate key" }).click();
  const dialog = page.getByRole("dialog", { name: /Your new key “Deploy”/ });
  const second = (await dialog.getByTestId("new-key-secret").textContent())!.trim();
  await dialog.getByRole("button", { name: "I have copied it" }).click();

  const rows = page.getByRole("row", { name: /Deploy/ });
  await expect(rows).toHaveCount(2);
  const old = rows.filter({ hasText: "Rotated" });
  await expect(old.getByRole("link", { name: "→ new key" })).toBeVisible();
  await expect(old.getByText(/stops in (59 minutes|1 hour)/)).toBeVisible();
  await expect(rows.filter({ hasText: "Active" })).toHaveCount(1);
  for (const secret of [first, second]) {
    const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` }, data: {} });
    expect(me.status()).toBe(200);
  }
  // The old key's page says the same, and links to its successor.
  await open(page, `/keys/${key.id}`);
  await expect(page.getByText("Rotated →")).toBeVisible();
  await page.getByRole("link", { name: "the new key" }).click();
  await expect(page.getByRole("heading", { name: /Deploy/ })).toBeVisible();
  await expect(page.locator(".page-head .badge")).toHaveText("Active");
});

test("restrict a key to a network: it is refused from anywhere else", async ({ page, request }) => {
  await signUp(page, uniqueEmail("networks"), "Network lab");
  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("Office only");
  await dialog.getByText("Limit where and how often it can be used").click();
  await dialog.getByLabel("Allowed networks").fill("10.0.0.0/8, 2001:db8::/32");
  await dialog.getByLabel("Requests per minute").fill("30");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.getByTestId("new-key-secret").textContent())!.trim();
  await page.getByRole("button", { name: "I have copied it" }).click();

  const row = page.getByRole("row", { name: /Office only/ });
  await expect(row.getByText("only from 10.0.0.0/8, 2001:db8::/32 · 30 a minute")).toBeVisible();
  const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` }, data: {} });
  expect(me.status()).toBe(403);
  expect((await me.json()).error.message).toContain("network");
  await row.getByRole("link", { name: "Office only" }).click();
  await expect(page.getByText("10.0.0.0/8, 2001:db8::/32")).toBeVisible();
  await expect(page.getByText("30 requests a minute")).toBeVisible();
});

test("a key's page shows who made it and a chart of its requests", async ({ page, request }) => {
  await signUp(page, uniqueEmail("chart"), "Chart lab");
  const { key, secret } = await apiCreateKey(page, { name: "Busy script" });
  for (let i = 0; i < 3; i++) {
    const me = await request.post("/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` }, data: {} });
    expect(me.status()).toBe(200);
  }
  // A program holding that key makes another one, capped lower.
  const made = await request.post("/api/v1/keys/create", {
    headers: { Authorization: `Bearer ${secret}` },
    data: { name: "Made by the script", role_cap: "read_only" },
  });
  expect(made.status()).toBe(201);
  const child = (await made.json()).key;

  await open(page, "/keys");
  await page.getByRole("link", { name: "Made by the script" }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${child.id}$`));
  await expect(page.getByText(/with their key/)).toBeVisible();
  await expect(page.getByText(/capped at Read only/)).toBeVisible();
  await page.getByRole("link", { name: key.id }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${key.id}$`));
  await expect(page.getByRole("heading", { name: /Busy script/ })).toBeVisible();
  await expect(page.getByText(/signed in$/)).toBeVisible();
  // Usage reaches the database within 10 s; the chart counts today's requests (4 with the
  // one that created the child).
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("usage-chart")).toHaveAttribute("aria-label", /today: [4-9]/, { timeout: 1_000 });
  }).toPass({ timeout: 25_000 });
});

test("the expiry banner meets the owner after sign-in", async ({ page }) => {
  const email = uniqueEmail("banner");
  await signUp(page, email, "Banner lab");
  await apiCreateKey(page, { name: "Nightly export", expires_at: inDays(3) });
  await apiCreateKey(page, { name: "Far away", expires_at: inDays(90) });
  await page.request.post("/api/v1/auth/logout", { data: {} });
  await open(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  const banner = page.getByTestId("expiry-banner");
  await expect(banner).toContainText("Your key “Nightly export” expires in 3 days.");
  await expect(banner).not.toContainText("Far away");
  await open(page, "/checks");
  await expect(banner).toBeVisible();
  await banner.getByRole("button", { name: "Dismiss" }).click();
  await expect(banner).toHaveCount(0);
});

test("search, filter and page through a long key list", async ({ page }) => {
  await signUp(page, uniqueEmail("search"), "Search lab");
  for (let i = 0; i < 52; i++) {
    await apiCreateKey(page, { name: `worker ${String(i).padStart(2, "0")}` });
  }
  const deploy = await apiCreateKey(page, { name: "Deploy to production" });
  await page.request.post("/api/v1/keys/revoke", { data: { key_id: deploy.key.id } });
  await open(page, "/keys");
  const rows = page.locator("tbody tr");
  await expect(rows).toHaveCount(50);
  await page.getByRole("button", { name: "Load more keys" }).click();
  await expect(rows).toHaveCount(53);
  await expect(page.getByRole("button", { name: "Load more keys" })).toHaveCount(0);

  await page.getByLabel("Search keys").fill("PRODUCTION");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("Deploy to production");
  await page.getByLabel("Search keys").fill("");
  await page.getByLabel("Status").selectOption({ label: "Revoked" });
  await expect(rows).toHaveCount(1);
  await page.getByLabel("Search keys").fill("worker");
  await expect(page.getByText("No keys match these filters.")).toBeVisible();
});

for (const colorScheme of ["light", "dark"] as const) {
  test(`no accessibility violations on the main pages (${colorScheme})`, async ({ browser }) => {
    const context = await browser.newContext({ colorScheme });
    const page = await context.newPage();
    await open(page, "/");
    await expectNoViolations(page, "/");
    await open(page, "/login");
    await expectNoViolations(page, "/login");
    await signUp(page, uniqueEmail(`a11y-${colorScheme}`), "Accessible lab");
    const { key } = await apiCreateKey(page, { name: "Soon", expires_at: inDays(2) });
    await page.request.post("/api/v1/checks/create", {
      data: { name: "Home", kind: "api", url: "https://example.com", frequency_minutes: 5, activated: true },
    });
    for (const path of ["/keys", `/keys/${key.id}`, "/checks", "/members", "/account-keys", "/audit", "/settings"]) {
      await open(page, path);
      await expectNoViolations(page, path);
    }
    await open(page, "/keys");
    await page.getByRole("button", { name: "Create a key" }).first().click();
    await expectNoViolations(page, "/keys with the create dialog");
    await context.close();
  });
}

async function expectNoViolations(page: Page, where: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const summary = results.violations.map(
    (violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`,
  );
  expect(summary, `accessibility violations on ${where}`).toEqual([]);
}
