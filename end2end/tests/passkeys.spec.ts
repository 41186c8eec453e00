import { test, expect, Page } from "@playwright/test";
import { open, PASSWORD, SHORT_PROOF_URL, signOut, signUp, uniqueEmail } from "./helpers";

// On the second server (playwright.config.ts): a proof lasts ten seconds there, and it is
// reached as localhost, since browsers take passkeys only for a domain name. The passkey is
// Chromium's virtual authenticator (DevTools' WebAuthn domain), with a fingerprint that always
// matches.
test.use({ baseURL: SHORT_PROOF_URL });

async function addVirtualAuthenticator(page: Page) {
  const devtools = await page.context().newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

test("a person adds a passkey, signs in with it alone and as the second step, steps up with it, and removes it", async ({ page }) => {
  await addVirtualAuthenticator(page);
  const email = uniqueEmail("passkey");
  await signUp(page, email, "Passkeys");

  await open(page, "/settings");
  const section = page.getByRole("region", { name: "Two-step sign-in" });
  await expect(section.getByTestId("two-step-status")).toContainText("Off");
  const passkeys = section.getByTestId("passkeys");
  await passkeys.getByLabel("Name of the new passkey").fill("Test laptop");
  await passkeys.getByRole("button", { name: "Add a passkey" }).click();
  // The first second factor comes with recovery codes, shown once.
  await expect(section.getByTestId("recovery-codes").locator("code")).toHaveCount(10);
  await section.getByRole("button", { name: "I have saved them" }).click();
  await expect(section.getByTestId("two-step-status")).toContainText("1 passkey");
  await expect(passkeys.getByRole("listitem")).toContainText("Test laptop");
  await expect(passkeys.getByRole("listitem")).toContainText("not used yet");

  // A passkey alone signs in: it names its person.
  await signOut(page);
  await open(page, "/login");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page).toHaveURL(/\/checks$/);

  // After the password, the passkey is the second step.
  await signOut(page);
  await open(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  const secondStep = page.getByTestId("second-step");
  await expect(secondStep).toBeVisible();
  await secondStep.getByRole("button", { name: "Use your passkey" }).click();
  await expect(page).toHaveURL(/\/checks$/);

  // The Members page says how the person signs in.
  await open(page, "/members");
  await expect(page.getByRole("row", { name: new RegExp(email.replace(/[.+]/g, "\\$&")) })).toContainText("Passkey");

  // Ten seconds on, removing it asks for a new proof, which the passkey gives.
  await open(page, "/settings");
  await expect(passkeys.getByRole("listitem")).toContainText("last used");
  await page.waitForTimeout(10_500);
  await passkeys.getByRole("button", { name: "Remove" }).click();
  await passkeys.getByRole("button", { name: "Remove passkey" }).click();
  const stepUp = passkeys.getByTestId("step-up");
  await expect(stepUp).toBeVisible();
  await stepUp.getByRole("button", { name: "Use a passkey" }).click();
  await expect(passkeys.getByText("No passkeys yet.")).toBeVisible();
  await expect(section.getByTestId("two-step-status")).toContainText("Off");

  // Without it, the password alone signs in again.
  await signOut(page);
  await open(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/checks$/);
});
