import { test, expect } from "@playwright/test";
import { createServer, IncomingHttpHeaders, Server } from "node:http";
import { AddressInfo } from "node:net";
import { open, signUp, uniqueEmail } from "./helpers";

// The server runs with KEYWARD_WEBHOOKS_ALLOW_PRIVATE=1 (a receiver on loopback) and
// KEYWARD_WEBHOOK_RETRIES=1,1 (an endpoint fails after three attempts, two seconds): see
// scripts/test.sh.

/** A receiver on loopback: keeps each delivery's headers and answers `status`. */
function startReceiver() {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const state = { status: 204 };
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body });
      response.writeHead(state.status).end();
    });
  });
  return new Promise<{ url: string; received: typeof received; state: typeof state; server: Server }>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/hook`, received, state, server });
    }),
  );
}

test("an Admin adds a webhook, sees its secret once, tests it, redelivers, is told when it fails, and deletes it", async ({ page }) => {
  const receiver = await startReceiver();
  try {
    await signUp(page, uniqueEmail("webhooks"), "Hooks");
    await open(page, "/settings");
    const section = page.getByRole("region", { name: "Webhooks" });
    await expect(section.getByText("No endpoint yet")).toBeVisible();

    // An event pattern that matches nothing is refused, naming the field.
    await section.getByLabel("URL").fill(receiver.url);
    await section.getByLabel("Events").fill("kye.*");
    await section.getByRole("button", { name: "Add endpoint" }).click();
    await expect(section.getByRole("alert")).toContainText("events:");

    await section.getByLabel("Events").fill("key.* member.removed");
    await section.getByLabel("Description").fill("Security team's SIEM");
    await section.getByRole("button", { name: "Add endpoint" }).click();
    const secret = section.getByTestId("webhook-secret");
    await expect(secret).toHaveText(/^whsec_[A-Za-z0-9+/=]{44}$/);
    const endpoint = section.getByTestId("webhook");
    await expect(endpoint).toContainText(receiver.url);
    await expect(endpoint).toContainText("Security team's SIEM · Receives key.*, member.removed");
    await expect(endpoint.getByText("Active")).toBeVisible();

    // A test event arrives, and its delivery shows with the receiver's answer.
    await endpoint.getByRole("button", { name: "Send a test event" }).click();
    await expect.poll(() => receiver.received.length).toBe(1);
    expect(JSON.parse(receiver.received[0].body).type).toBe("webhook.test");
    expect(receiver.received[0].headers["webhook-signature"]).toMatch(/^v1,/);
    const row = endpoint.getByRole("row", { name: /webhook\.test/ });
    await expect(async () => {
      await endpoint.getByRole("button", { name: "Refresh" }).click();
      await expect(row).toContainText("Delivered", { timeout: 1000 });
    }).toPass();
    await expect(row).toContainText(/HTTP 204 in \d+ ms/);

    // Redelivered: the same webhook-id again.
    await row.getByRole("button", { name: "Redeliver" }).click();
    await expect.poll(() => receiver.received.length).toBe(2);
    expect(receiver.received[1].headers["webhook-id"]).toBe(receiver.received[0].headers["webhook-id"]);

    // The receiver breaks: after its retries the endpoint is failing, and every page says so.
    receiver.state.status = 503;
    await endpoint.getByRole("button", { name: "Send a test event" }).click();
    await expect.poll(() => receiver.received.length, { timeout: 15_000 }).toBe(5);
    const banner = page.getByTestId("failing-webhooks-banner");
    await expect(async () => {
      await open(page, "/checks");
      await expect(banner).toContainText(receiver.url, { timeout: 1000 });
    }).toPass();
    await open(page, "/settings");
    await expect(endpoint.getByText(/Failing since/)).toBeVisible();
    await endpoint.getByRole("button", { name: "Show last deliveries" }).click();
    await expect(endpoint.getByRole("row", { name: /webhook\.test.*Failed.*after 3 attempts.*HTTP 503/ })).toBeVisible();

    await endpoint.getByRole("button", { name: "Delete" }).click();
    await section.getByRole("button", { name: "Delete it" }).click();
    await expect(section.getByText("No endpoint yet")).toBeVisible();
    await open(page, "/checks");
    await expect(banner).toHaveCount(0);
  } finally {
    receiver.server.close();
  }
});
