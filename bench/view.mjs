// Times the view's page in headless Chromium: from navigation to every panel
// drawn (the "ccpipe-drawn" mark app.js sets once all its queries have
// answered and the charts have painted), in a fresh browser context each run.
// Run by bench/view.sh, which starts ccpipe on the database to measure.
//
// usage: node bench/view.mjs <view-url> <runs> <range>...
// Prints one line per range: the median/min/max to ready, and where the time
// went (page and script, the slowest API answer, drawing after the last answer).
import { createRequire } from "node:module";

// playwright-core as pinned for the browser test (tests/browser).
const require = createRequire(new URL("../tests/browser/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [url, runsArg, ...ranges] = process.argv.slice(2);
const runs = Number(runsArg) || 5;
const STEP_MS = 60000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  timeout: STEP_MS,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// One navigation: the mark and the resource timings up to it.
async function once(range) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${url}#/?range=${range}`);
    await page.waitForFunction(() => performance.getEntriesByName("ccpipe-drawn").length > 0);
    const t = await page.evaluate(() => {
      const ready = performance.getEntriesByName("ccpipe-drawn")[0].startTime;
      const api = performance.getEntriesByType("resource")
        .filter((e) => e.name.includes("/api/") && e.responseEnd <= ready)
        .map((e) => ({ path: new URL(e.name).pathname.slice(5), start: e.startTime, end: e.responseEnd, bytes: e.transferSize }));
      const script = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/app.js"));
      return {
        ready,
        scriptLoaded: script ? script.responseEnd : 0,
        apiDone: Math.max(0, ...api.map((a) => a.end)),
        api,
        status: document.getElementById("status").textContent,
        canvases: document.querySelectorAll(".chart canvas").length,
      };
    });
    if (errors.length || t.status) throw new Error(`the page failed: ${errors.join("; ")} ${t.status}`);
    return t;
  } finally {
    await context.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (ms) => ms.toFixed(0).padStart(6) + " ms";

try {
  console.log(`${runs} runs per range, fresh browser context each; median (min–max)`);
  for (const range of ranges) {
    const all = [];
    for (let i = 0; i < runs; i++) all.push(await once(range));
    const ready = all.map((t) => t.ready);
    // Per API path: its median duration over the runs; the slowest names the bottleneck.
    const perPath = {};
    for (const t of all) for (const a of t.api) (perPath[a.path] ||= []).push(a.end - a.start);
    const slowest = Object.entries(perPath).map(([p, ds]) => [p, median(ds)]).sort((a, b) => b[1] - a[1]);
    const bytes = median(all.map((t) => t.api.reduce((s, a) => s + (a.bytes || 0), 0)));
    console.log(
      `range=${range.padEnd(4)} ready ${f(median(ready))} (${Math.min(...ready).toFixed(0)}–${Math.max(...ready).toFixed(0)})` +
      ` | script loaded ${f(median(all.map((t) => t.scriptLoaded)))}` +
      ` | last API answer ${f(median(all.map((t) => t.apiDone)))}` +
      ` | drawing after it ${f(median(all.map((t) => t.ready - t.apiDone)))}` +
      ` | ${all[0].api.length} API calls, ${(bytes / 1024).toFixed(1)} KiB, ${all[0].canvases} charts`,
    );
    console.log(`           per API call: ${slowest.map(([p, d]) => `${p} ${d.toFixed(0)}`).join(", ")} (ms)`);
  }
} finally {
  await browser.close();
}
