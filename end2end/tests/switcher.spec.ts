import { test, expect } from "@playwright/test";
import { invite, open, signUp, uniqueEmail } from "./helpers";

test("a person in two accounts switches between them", async ({ browser }) => {
  // Lin has an account of her own, then joins Acme while signed in (no password needed).
  const lin = await browser.newContext();
  const linPage = await lin.newPage();
  const linEmail = uniqueEmail("lin");
  await signUp(linPage, linEmail, "Lin's lab");

  const acme = await browser.newContext();
  const acmePage = await acme.newPage();
  await signUp(acmePage, uniqueEmail("acme-admin"), "Acme");
  const link = await invite(acmePage, linEmail, "Read & write");

  await open(linPage, new URL(link).pathname);
  await linPage.getByRole("button", { name: "Accept invitation" }).click();
  await expect(linPage).toHaveURL(/\/checks$/);
  await expect(linPage.getByText("Monitors of Acme.")).toBeVisible();

  const switcher = linPage.getByLabel("Current account");
  await expect(switcher.locator("option")).toHaveText(["Lin's lab · Admin", "Acme · Read & write"]);
  await switcher.selectOption({ label: "Lin's lab · Admin" });
  await expect(linPage.getByText("Monitors of Lin's lab.")).toBeVisible();
  await linPage.reload();
  await expect(linPage.getByText("Monitors of Lin's lab.")).toBeVisible();

  await lin.close();
  await acme.close();
});
