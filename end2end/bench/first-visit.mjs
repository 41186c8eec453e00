// A first visit in Chromium, cache disabled, on two throttled links: bytes transferred and the
// time from navigation until the page has hydrated (<body data-hydrated>, set by src/lib.rs).
// Usage: node bench/first-visit.mjs URL  (run from end2end/, by scripts/bench.sh)
import { chromium } from "@playwright/test";

const url = process.argv[2];
const links = [
  { name: "1.6 Mbit/s, 150 ms", kbits: 1600, latency: 150 },
  { name: "20 Mbit/s, 20 ms", kbits: 20000, latency: 20 },
];
const runs = Number(process.env.RUNS ?? 3);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const results = [];
for (const link of links) {
  const times = [];
  let bytes = 0;
  for (let run = 0; run < runs; run++) {
    const context = await browser.newContext();
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
    const started = Date.now();
    await page.goto(url, { waitUntil: "commit" });
    await page.locator("body[data-hydrated]").waitFor({ timeout: 60_000 });
    times.push(Date.now() - started);
    bytes = transferred;
    await context.close();
  }
  times.sort((a, b) => a - b);
  results.push({ link: link.name, bytes, median_ms: times[Math.floor(times.length / 2)], times });
}
await browser.close();
console.log(JSON.stringify(results));
