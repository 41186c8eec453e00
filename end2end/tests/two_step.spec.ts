import { test, expect, Page } from "@playwright/test";
import { createHmac } from "node:crypto";
import { open, PASSWORD, SHORT_PROOF_URL, signOut, signUp, uniqueEmail } from "./helpers";

// On the second server (playwright.config.ts), with KEYWARD_STEP_UP_SECONDS=10: a sign-in's
// proof counts for ten seconds, so the tests can watch the page ask for a new one.
test.use({ baseURL: SHORT_PROOF_URL });

/** The person's authenticator app (RFC 6238: SHA-1, 6 digits, 30 s), from the key shown. */
function codeOf(base32Secret: string, stepsFromNow = 0): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of base32Secret.replace(/=+$/, "")) {
    bits += alphabet.indexOf(char).toString(2).padStart(5, "0");
  }
  const bytes = Buffer.from(bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2)));
  const step = Math.floor(Date.now() / 1000 / 30) + stepsFromNow;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac("sha1", bytes).update(counter).digest();
  const offset = digest[digest.length - 1] & 15;
  const number = (digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return number.toString().padStart(6, "0");
}

async function passwordStep(page: Page, email: string) {
  await open(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("second-step")).toBeVisible();
}

test("a person turns on two-step sign-in, signs in with a code and with a recovery code, and turns it off after confirming it is them", async ({ page }) => {
  const email = uniqueEmail("two-step");
  await signUp(page, email, "Two steps");
  await open(page, "/settings");
  const section = page.getByRole("region", { name: "Two-step sign-in" });
  await expect(section.getByTestId("two-step-status")).toContainText("Off");

  await section.getByRole("button", { name: "Set up an authenticator app" }).click();
  await expect(section.getByRole("img", { name: /QR code/ })).toBeVisible();
  const secret = (await section.getByTestId("totp-secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  // A wrong code is refused, naming the field.
  await section.getByLabel("The 6-digit code your app shows now").fill(codeOf(secret, 5));
  await section.getByRole("button", { name: "Turn on two-step sign-in" }).click();
  await expect(section.getByRole("alert")).toContainText("code:");
  await section.getByLabel("The 6-digit code your app shows now").fill(codeOf(secret));
  await section.getByRole("button", { name: "Turn on two-step sign-in" }).click();
  const codes = section.getByTestId("recovery-codes").locator("code");
  await expect(codes).toHaveCount(10);
  const recoveryCode = (await codes.first().textContent())!.trim();
  expect(recoveryCode).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
  await section.getByRole("button", { name: "I have saved them" }).click();
  await expect(section.getByTestId("recovery-codes")).toHaveCount(0);
  await expect(section.getByTestId("two-step-status")).toContainText("On");
  await expect(section.getByTestId("two-step-status")).toContainText("10 unused recovery codes");
  // The Members page shows who has which factor.
  await open(page, "/members");
  await expect(page.getByRole("row", { name: new RegExp(email.replace(/[.+]/g, "\\$&")) })).toContainText("Authenticator app");

  // The password alone no longer signs in: the page asks for the code.
  await signOut(page);
  await passwordStep(page, email);
  await page.getByLabel("The 6-digit code of your authenticator app").fill("000000" === codeOf(secret, 1) ? "111111" : "000000");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText(/Wrong code|used already/);
  // The setup took this step's code; the next step's is the first one left.
  await page.getByLabel("The 6-digit code of your authenticator app").fill(codeOf(secret, 1));
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/checks$/);

  // Lost phone: a recovery code instead.
  await signOut(page);
  await passwordStep(page, email);
  await page.getByRole("button", { name: "Lost your phone? Use a recovery code" }).click();
  await page.getByLabel("One of your recovery codes").fill(recoveryCode);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/checks$/);

  // Ten seconds on, removing the factor asks for a new proof inline and then goes through.
  await open(page, "/settings");
  await expect(section.getByTestId("two-step-status")).toContainText("9 unused recovery codes");
  await page.waitForTimeout(10_500);
  await section.getByRole("button", { name: "Remove authenticator app" }).click();
  await section.getByRole("button", { name: "Remove", exact: true }).click();
  const stepUp = section.getByTestId("step-up");
  await expect(stepUp).toBeVisible();
  await stepUp.getByLabel("Your password, or a code from your authenticator app").fill("not my password");
  await stepUp.getByRole("button", { name: "Confirm and continue" }).click();
  await expect(stepUp.getByRole("alert")).toContainText("password");
  await stepUp.getByLabel("Your password, or a code from your authenticator app").fill(PASSWORD);
  await stepUp.getByRole("button", { name: "Confirm and continue" }).click();
  await expect(section.getByTestId("two-step-status")).toContainText("Off");
  await expect(section.getByTestId("step-up")).toHaveCount(0);

  // And the password alone signs in again.
  await signOut(page);
  await open(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/checks$/);
});

test("ten seconds after signing in, creating a key asks the person to confirm it is them, then creates it", async ({ page }) => {
  await signUp(page, uniqueEmail("step-up"), "Step up");
  await page.waitForTimeout(10_500);
  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("Deploy job");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const stepUp = dialog.getByTestId("step-up");
  await expect(stepUp).toBeVisible();
  // Enter in the field confirms; it does not send the key's form again.
  const proof = stepUp.getByLabel("Your password, or a code from your authenticator app");
  await proof.fill("not my password");
  await proof.press("Enter");
  await expect(stepUp.getByRole("alert")).toContainText("password");
  await proof.fill(PASSWORD);
  await stepUp.getByRole("button", { name: "Confirm and continue" }).click();
  const secretDialog = page.getByRole("dialog", { name: /Your new key/ });
  await expect(secretDialog.getByTestId("new-key-secret")).toHaveText(/^kw_[0-9A-Za-z]{38}$/);
  await secretDialog.getByRole("button", { name: "I have copied it" }).click();
  await expect(page.getByRole("row", { name: /Deploy job/ })).toBeVisible();
});
