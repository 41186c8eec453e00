import { test, expect } from "@playwright/test";
import { open, signUp, uniqueEmail } from "./helpers";

test("an Admin defines the permissions of their own service, grants one to a key, and removes it", async ({ page }) => {
  await signUp(page, uniqueEmail("own-permissions"), "Shop");
  await open(page, "/settings");
  const section = page.getByRole("region", { name: "Your services' permissions" });
  await expect(section.getByText("None yet")).toBeVisible();

  await section.getByLabel("Name").fill("orders:write");
  await section.getByLabel("Least role").selectOption("read_write");
  await section.getByLabel("What it lets a key do").fill("Create and cancel orders");
  await section.getByRole("button", { name: "Define permission" }).click();
  await expect(section.getByText("orders:write defined.")).toBeVisible();
  const table = section.getByRole("table", { name: "Your services' permissions" });
  await expect(table.getByRole("row", { name: /orders:write.*Read & write.*Create and cancel orders/ })).toBeVisible();

  // A name about keyward's own resources is refused, naming the field.
  await section.getByLabel("Name").fill("checks:admin");
  await section.getByRole("button", { name: "Define permission" }).click();
  await expect(section.getByRole("alert")).toContainText("name:");

  // The key dialog offers it under "Your services"; the key's page says it holds it.
  await open(page, "/keys");
  await page.getByRole("button", { name: "Create a key" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("orders client");
  await dialog.getByLabel("Access").selectOption("custom");
  await dialog.getByRole("group", { name: "Your services" }).getByLabel(/orders:write/).check();
  await dialog.getByRole("button", { name: "Create key" }).click();
  await page.getByRole("dialog", { name: /Your new key/ }).getByRole("button", { name: "I have copied it" }).click();
  await page.getByRole("link", { name: "orders client" }).click();
  await expect(page.getByText("Your services: orders:write")).toBeVisible();

  // Removed, it leaves the key's grant.
  await open(page, "/settings");
  await table.getByRole("row", { name: /orders:write/ }).getByRole("button", { name: "Remove" }).click();
  await section.getByRole("button", { name: "Remove it" }).click();
  await expect(section.getByText("None yet")).toBeVisible();
});
