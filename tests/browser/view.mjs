// Opens ccpipe's view in headless Chromium the way a person would and
// prints, as one JSON object on stdout, what the page shows; the Rust test
// (tests/view_browser.rs) compares it with sums computed from the data.
//
// usage: node view.mjs <view-url> <screenshot.png> <model> <user> <key:value> [token]
// With a token, the page is first opened without it; a model of "-" stops
// after the first page.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, screenshot, model, user, attr, token] = process.argv.slice(2);
const STEP_MS = 30000;
const profile = mkdtempSync(join(tmpdir(), "ccpipe-view-chromium-"));

// A fresh profile (--user-data-dir) for every run.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  timeout: 60000,
  viewport: { width: 1400, height: 1000 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const out = { console_errors: [] };
try {
  const page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(STEP_MS);
  page.on("pageerror", (e) => out.console_errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && out.console_errors.push(m.text()));

  const loads = () => page.evaluate(() => Number(document.body.dataset.loads || 0));
  // Does `action`, then waits until the page has drawn what the hash asks for.
  async function andWait(action) {
    const before = await loads();
    await action();
    await page.waitForFunction(
      (n) => Number(document.body.dataset.loads || 0) > n && document.body.dataset.loadedHash === location.hash,
      before,
    );
  }
  const read = (id) => page.locator(`[data-testid="${id}"]`).first().innerText();
  async function headline() {
    const ids = ["cost-usd", "tokens-input", "tokens-output", "tokens-cacheRead", "tokens-cacheCreation",
      "sessions", "active-time", "api-requests", "api-errors", "tool-calls", "tool-failures",
      "lines-added", "lines-removed", "commits", "pull-requests", "edit-accept-rate"];
    const shown = {};
    for (const id of ids) shown[id] = await read(id);
    shown.tools = {};
    for (const row of await page.locator("#tools tr").all()) {
      const cells = await row.locator("td").allInnerTexts();
      shown.tools[cells[0]] = cells[1];
    }
    shown.top_sessions = await page.locator('[data-testid="session-link"]').allInnerTexts();
    shown.charts = await page.locator(".chart canvas").count();
    return shown;
  }

  if (token) {
    // The page loads without the token and asks for it; a wrong one is refused.
    await page.goto(url);
    await page.locator("#token-form").waitFor({ state: "visible" });
    await page.fill("#token", "not-the-token");
    await page.click('#token-form button[type="submit"]');
    await page.waitForFunction(() => document.getElementById("status").textContent !== "");
    out.wrong_token_status = await read("status");
    await andWait(async () => {
      await page.fill("#token", token);
      await page.click('#token-form button[type="submit"]');
    });
  } else {
    await andWait(() => page.goto(url));
  }
  if (model === "-") {
    out.all = await headline();
    out.token_form_hidden = await page.locator("#token-form").isHidden();
    process.stdout.write(JSON.stringify(out) + "\n");
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    process.exit(0);
  }
  // Watching is on by default; a person comparing numbers turns it off.
  await page.uncheck('[data-testid="filter-live"]');
  await andWait(() => page.selectOption('[data-testid="filter-range"]', "all"));
  out.all = await headline();
  await page.screenshot({ path: screenshot, fullPage: true });

  await andWait(() => page.selectOption('[data-testid="filter-model"]', model));
  out.model = await headline();
  await andWait(() => page.selectOption('[data-testid="filter-model"]', ""));
  await andWait(() => page.selectOption('[data-testid="filter-user"]', user));
  out.user = await headline();
  await andWait(() => page.selectOption('[data-testid="filter-user"]', ""));
  await andWait(() => page.selectOption('[data-testid="filter-attr"]', attr));
  out.attr = await headline();
  await andWait(() => page.selectOption('[data-testid="filter-attr"]', ""));

  // A bookmarked filter: the address alone brings the filtered page back.
  await page.goto("about:blank");
  await andWait(() => page.goto(`${url}#/?range=all&user=${encodeURIComponent(user)}`));
  out.bookmarked_user = await headline();
  await page.uncheck('[data-testid="filter-live"]');
  await andWait(() => page.selectOption('[data-testid="filter-user"]', ""));

  // The top session by cost, opened from its link.
  const first = page.locator('[data-testid="session-link"]').first();
  out.session_link = await first.innerText();
  await andWait(() => first.click());
  out.session = {
    id: await read("session-id"),
    user: await read("session-user"),
    events: await page.locator('[data-testid="session-event"]').evaluateAll((rows) =>
      rows.map((r) => ({ kind: r.dataset.kind, cells: [...r.cells].map((c) => c.innerText) }))),
    spans: await page.locator('[data-testid="session-span"]').count(),
    span_events: await page.locator('[data-testid="span-event"]').allInnerTexts(),
  };
  out.status = await read("status");

  // Refresh while you watch: back on the overview with refreshing on, one
  // more request reaches ccpipe and the page shows it without a click.
  const live = process.env.VIEW_LIVE_POST; // "<OTLP/HTTP logs URL>|<OTLP/JSON file>"
  if (live) {
    const [postUrl, file] = live.split("|");
    await andWait(() => page.evaluate(() => { location.hash = "#/?range=all"; }));
    await page.check('[data-testid="filter-live"]');
    const before = await read("api-errors");
    const res = await fetch(postUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: readFileSync(file),
    });
    out.live_post_status = res.status;
    await page.waitForFunction(
      (b) => document.querySelector('[data-testid="api-errors"]').textContent !== b,
      before,
      { timeout: 30000 },
    );
    out.live_api_errors = await read("api-errors");
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + "\n");
