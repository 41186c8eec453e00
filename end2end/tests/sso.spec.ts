import { test, expect } from "@playwright/test";
import { open, signOut, signUp, SSO_URL, uniqueEmail } from "./helpers";

// On the third server (playwright.config.ts), which signs people in through a real OpenID
// provider (npm oidc-provider, its development sign-in form: any login, any password; the login
// is the subject and, by default, a verified email).
test.use({ baseURL: SSO_URL });

test("a person signs in through the identity provider, requires it for the account and gives the provider a SCIM token", async ({ page }) => {
  const email = uniqueEmail("sso");
  await signUp(page, email, "Single sign-on");
  await signOut(page);

  await open(page, "/login");
  await page.getByRole("link", { name: "Sign in with SSO" }).click();
  // The provider's own page.
  await expect(page).toHaveURL(/127\.0\.0\.1:3005\/interaction\//);
  await page.locator("input[name=login]").fill(email);
  await page.locator("input[name=password]").fill("anything");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await expect(page).toHaveURL(/localhost:3002\/keys$/);
  await page.locator("body[data-hydrated]").waitFor();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();

  await open(page, "/settings");
  const section = page.getByRole("region", { name: "Single sign-on" });
  await expect(section).toContainText("http://127.0.0.1:3005");
  await section.getByRole("button", { name: "Require single sign-on" }).click();
  await expect(section.getByTestId("sso-policy")).toContainText("sign in through it only");
  await expect(section.getByTestId("scim-endpoint")).toHaveText("http://localhost:3002/scim/v2");
  await section.locator("#scim-default-role").selectOption({ label: "Read & write" });
  await section.getByRole("button", { name: "Create a SCIM token" }).click();
  await expect(section.getByTestId("scim-token")).toHaveText(/^kwscim_/);
  await expect(section.getByTestId("scim-token-status")).toContainText("Read & write");
  await page.screenshot({ path: "test-results/sso-settings.png", fullPage: true });

  // A password no longer opens this account; the page says what to do instead.
  await signOut(page);
  await open(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("requires single sign-on");
  await page.screenshot({ path: "test-results/sso-login.png", fullPage: true });
});

test("the sign-in page explains a failed single sign-on", async ({ page }) => {
  await open(page, "/login?sso_error=no_login");
  await expect(page.getByTestId("sso-error")).toContainText("No keyward login has your email");
  // A callback this browser did not start signs no one in.
  await page.goto("/auth/oidc/callback?code=stolen&state=forged");
  await expect(page).toHaveURL(/\/login\?sso_error=state$/);
  await page.locator("body[data-hydrated]").waitFor();
  await expect(page.getByTestId("sso-error")).toContainText("not started in this browser");
});
