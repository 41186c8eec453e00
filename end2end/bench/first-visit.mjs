// A first visit in Chromium, cache disabled, on two throttled links, of every page a newcomer
// may open first: bytes transferred and the time from navigation until the page has hydrated
// (<body data-hydrated>, set by src/lib.rs). The time is read inside the page: performance.now()
// (whose origin is the navigation's start) when the attribute appears. Timed from here instead,
// it would include Playwright's polling for the attribute, which waits up to 500 ms between
// looks: the earlier version of this bench reported 2,053 ms for a page that had hydrated at
// 1,674 ms. The start, sign-in and sign-up pages are visited
// signed out, an invite link as the invited person, the keys list and a key's page signed in
// (the session cookie is set before the visit; nothing else is kept from the set-up).
// Usage: node bench/first-visit.mjs BASE_URL  (run from end2end/, by scripts/bench.sh; the
// server must allow one more sign-up from 127.0.0.1)
import { chromium } from "@playwright/test";

const base = process.argv[2].replace(/\/$/, "");
const links = [
  { name: "1.6 Mbit/s, 150 ms", kbits: 1600, latency: 150 },
  { name: "20 Mbit/s, 20 ms", kbits: 20000, latency: 20 },
];
const runs = Number(process.env.RUNS ?? 3);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});

// The set-up, unthrottled: a person with an account, a key, and an invite for someone else.
const setup = await browser.newContext();
const call = async (operation, data, expected) => {
  const answer = await setup.request.post(`${base}/api/v1/${operation}`, { data });
  if (answer.status() !== expected) {
    throw new Error(`${operation} answered ${answer.status()}: ${await answer.text()}`);
  }
  return answer.json();
};
const stamp = `${Date.now()}.${Math.floor(Math.random() * 1e6)}`;
await call("auth/signup", {
  email: `first-visit.${stamp}@example.com`,
  password: "correct horse battery staple",
  account_name: "First visits",
}, 201);
const made = await call("keys/create", { name: "CI deploy" }, 201);
const invitation = await call("members/invite", { email: `invited.${stamp}@example.com`, role: "read_only" }, 201);
const signedIn = await setup.storageState();
await setup.close();

const pages = [
  { path: "/", signedIn: false },
  { path: "/login", signedIn: false },
  { path: "/signup", signedIn: false },
  { path: new URL(invitation.invite_url).pathname, name: "/invite/<token>", signedIn: false },
  { path: "/keys", signedIn: true },
  { path: `/keys/${made.key.id}`, name: "/keys/<id>", signedIn: true },
];

const results = [];
for (const entry of pages) {
  for (const link of links) {
    const times = [];
    let bytes = 0;
    for (let run = 0; run < runs; run++) {
      const context = await browser.newContext(entry.signedIn ? { storageState: signedIn } : {});
      const page = await context.newPage();
      const devtools = await context.newCDPSession(page);
      await devtools.send("Network.enable");
      await devtools.send("Network.setCacheDisabled", { cacheDisabled: true });
      await devtools.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: link.latency,
        downloadThroughput: (link.kbits * 1000) / 8,
        uploadThroughput: (link.kbits * 1000) / 8,
      });
      let transferred = 0;
      devtools.on("Network.loadingFinished", (event) => {
        transferred += event.encodedDataLength;
      });
      await page.addInitScript(() => {
        new MutationObserver((_, observer) => {
          if (document.body?.hasAttribute("data-hydrated")) {
            window.hydratedAt = performance.now();
            observer.disconnect();
          }
        }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-hydrated"] });
      });
      await page.goto(`${base}${entry.path}`, { waitUntil: "commit" });
      await page.locator("body[data-hydrated]").waitFor({ timeout: 60_000 }).catch((error) => {
        throw new Error(`${entry.path} on ${link.name} did not hydrate: ${error.message}`);
      });
      times.push(Math.round(await page.evaluate(() => window.hydratedAt)));
      if (new URL(page.url()).pathname !== entry.path) {
        throw new Error(`${entry.path} ended at ${page.url()}: not the page meant`);
      }
      bytes = transferred;
      await context.close();
    }
    times.sort((a, b) => a - b);
    results.push({
      page: entry.name ?? entry.path,
      link: link.name,
      bytes,
      median_ms: times[Math.floor(times.length / 2)],
      times,
    });
  }
}
await browser.close();
console.log(JSON.stringify(results));
