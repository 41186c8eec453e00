import { test, expect, Page } from "@playwright/test";
import { open, signUp, uniqueEmail } from "./helpers";

// Names are the one thing every member types that every other member's browser shows. Each
// must come out as text on every page, in the server-rendered HTML and after hydration, the
// audit log's sentences included: no script of a name's ever runs.
const KEY_NAME = "</script><img src=x onerror=alert(1)>";
const ACCOUNT_NAME = '"><svg onload=alert(1)>';
const CHECK_NAME = "<img src=x onerror=alert(2)>";

function watch(page: Page) {
  const problems: string[] = [];
  page.on("dialog", async (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

test("names that look like markup stay text on every page", async ({ page }) => {
  const problems = watch(page);
  await signUp(page, uniqueEmail("escaper"), ACCOUNT_NAME);

  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill(KEY_NAME);
  await dialog.getByRole("button", { name: "Create key" }).click();
  await page.getByRole("button", { name: "I have copied it" }).click();

  const created = await page.request.post("/api/v1/checks/create", {
    data: { name: CHECK_NAME, kind: "api", url: "https://example.com/health", frequency_minutes: 5, activated: true },
  });
  expect(created.status()).toBe(201);
  const listed = await page.request.post("/api/v1/keys/list", { data: {} });
  const keyId = (await listed.json()).keys[0].id as string;

  const pages: [string, string[]][] = [
    ["/", []],
    ["/keys", [KEY_NAME]],
    [`/keys/${keyId}`, [KEY_NAME]],
    ["/account-keys", [KEY_NAME]],
    ["/checks", [CHECK_NAME]],
    ["/members", []],
    ["/settings", []],
    // The trail's sentences name the key and the check they were about.
    ["/audit", [KEY_NAME, CHECK_NAME]],
  ];
  for (const [path, names] of pages) {
    await open(page, path);
    // The account's name is in the top bar of every signed-in page.
    await expect(page.locator("body"), path).toContainText(ACCOUNT_NAME);
    for (const name of names) {
      await expect(page.getByText(name, { exact: false }).first(), `${path}: ${name}`).toBeVisible();
    }
    // Nothing a name carried became an element.
    expect(await page.locator("img[src='x'], svg[onload]").count(), path).toBe(0);
  }
  await page.screenshot({ path: "test-results/escaped-names.png", fullPage: true });
  expect(problems).toEqual([]);
});
