// The ccpipe view: reads the JSON API of the server that served this page
// (docs/view.md) and draws it with uPlot. Plain script, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#c25b2f", "#2f6fc2", "#3a9a5b", "#8a4fc2", "#c2a12f", "#2fa6c2", "#c22f6b", "#6b7385"];
const TOKEN_TYPES = ["input", "output", "cacheRead", "cacheCreation"];
const RANGES = { "24h": 864e5, "7d": 7 * 864e5, "30d": 30 * 864e5, "90d": 90 * 864e5, all: null };
const REFRESH_MS = 5000;

const state = { token: sessionStorage.getItem("ccpipe-view-token") || "", loading: false, again: false, loads: 0, charts: {} };

// ---- numbers as people read them -------------------------------------------
const int = (n) => (n == null ? "–" : Math.round(n).toLocaleString("en-US"));
const usd = (n) => (n == null ? "–" : "$" + n.toFixed(4));
const pct = (r) => (r == null ? "–" : (r * 100).toFixed(1) + "%");
function ms(n) {
  if (n == null) return "–";
  return n < 1000 ? Math.round(n) + " ms" : (n / 1000).toFixed(2) + " s";
}
function seconds(s) {
  if (s == null) return "–";
  if (s < 60) return Math.round(s) + " s";
  const m = Math.floor(s / 60);
  return m < 60 ? m + " min " + Math.round(s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
}
const when = (t) => new Date(t).toISOString().replace("T", " ").slice(0, 19) + " UTC";
// Noon: a day's bar stands over its day.
const daySecs = (day) => Date.parse(day + "T12:00:00Z") / 1000;
const tokenTotal = (t) => (t == null ? null : typeof t === "number" ? t : TOKEN_TYPES.reduce((a, k) => a + (t[k] || 0), 0));

// user.id is a 64-character hash: its start tells users apart.
const short = (id) => (!id ? "–" : id.length > 16 ? id.slice(0, 12) + "…" : id);

function text(el, value) {
  el.textContent = value;
  return el;
}
function cell(tr, value, cls) {
  const td = tr.insertCell();
  if (cls) td.className = cls;
  text(td, value);
  return td;
}

// ---- filters, kept in the location hash: #/?range=all&model=… ---------------
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  return { path, query: new URLSearchParams(query || "") };
}
// A hash without a query (a session link, "← overview") keeps the filters.
function filtersFromHash() {
  const q = route().query;
  if (![...q].length) return;
  $("f-range").value = Object.hasOwn(RANGES, q.get("range") || "") ? q.get("range") : "30d";
  for (const [id, key] of [["f-user", "user"], ["f-model", "model"], ["f-attr", "attr"]]) {
    const v = q.get(key) || "";
    ensureOption($(id), v);
    $(id).value = v;
  }
}
function filterQuery() {
  const q = new URLSearchParams();
  const range = RANGES[$("f-range").value];
  if (range) {
    // The store cuts bounds at hour starts and answers ranges up to 3 days
    // by the hour: `to` at the next hour keeps the current hour in view.
    const now = Date.now();
    q.set("from", String(now - range));
    q.set("to", String(Math.ceil(now / 36e5) * 36e5));
  }
  if ($("f-user").value) q.set("user", $("f-user").value);
  if ($("f-model").value) q.set("model", $("f-model").value);
  if ($("f-attr").value) q.set("attr", $("f-attr").value);
  return q;
}
function saveFilters() {
  const q = new URLSearchParams();
  q.set("range", $("f-range").value);
  for (const [id, key] of [["f-user", "user"], ["f-model", "model"], ["f-attr", "attr"]]) {
    if ($(id).value) q.set(key, $(id).value);
  }
  const path = route().path;
  history.replaceState(null, "", "#" + path + "?" + q.toString());
}
function ensureOption(select, value, label) {
  if (value === "" || [...select.options].some((o) => o.value === value)) return;
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label || value;
  select.appendChild(o);
}

// ---- the API ---------------------------------------------------------------
class Unauthorized extends Error {}
async function api(path, query) {
  const url = "/api/" + path + (query && [...query].length ? "?" + query.toString() : "");
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const res = await fetch(url, { headers, cache: "no-store" });
  if (res.status === 401) throw new Unauthorized();
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(path + ": " + (body.error || res.status));
  return body;
}

// ---- charts ------------------------------------------------------------------
function chart(id, series, data, opts) {
  const el = $(id);
  const width = Math.max(300, el.clientWidth || 460);
  const shape = JSON.stringify([width, opts.step || 86400, series.map((s) => s.label)]);
  const old = state.charts[id];
  const empty = !data[0] || data[0].length === 0;
  if (old && old.shape === shape && !empty) {
    // Same series at the same size (a refresh): new data, no flicker.
    old.u.setData(data);
    fitX(old.u, data[0], opts.step);
    return;
  }
  if (old) old.u.destroy();
  delete state.charts[id];
  el.textContent = "";
  if (empty) {
    text(el.appendChild(document.createElement("div")), "no data in this range").className = "empty";
    return;
  }
  const options = {
    width,
    height: 220,
    series: [{}, ...series],
    axes: opts.axes || [{}, { size: 60 }],
    scales: opts.scales || {},
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  const u = new uPlot(options, data, el);
  fitX(u, data[0], opts.step);
  state.charts[id] = { u, shape };
}
// Half a step of room each side, so one day's bar is a bar: uPlot spans a
// single point over years on its own.
function fitX(u, xs, step) {
  const pad = (step || 86400) / 2 + (xs[xs.length - 1] - xs[0]) * 0.02;
  u.setScale("x", { min: xs[0] - pad, max: xs[xs.length - 1] + pad });
}
// Points only where they have room (uPlot's default): a year of days is a
// line, not 365 circles per series to paint.
function line(label, color, extra) {
  return Object.assign({ label, stroke: color, width: 2, points: { size: 6 } }, extra || {});
}
function bars(label, color, extra) {
  return Object.assign({ label, stroke: color, fill: color + "55", width: 1, paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }, extra || {});
}
// Rows keyed by x (day or bucket) → aligned columns for uPlot.
function columns(rows, xOf, keys, valueOf) {
  const xs = [...new Set(rows.map(xOf))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const cols = keys.map(() => xs.map(() => null));
  for (const r of rows) {
    keys.forEach((k, i) => {
      const v = valueOf(r, k);
      if (v == null) return;
      const at = index.get(xOf(r));
      cols[i][at] = (cols[i][at] || 0) + v;
    });
  }
  return [xs, ...cols];
}

// ---- the overview ------------------------------------------------------------
function showSummary(s) {
  const set = (id, v) => text(document.querySelector(`[data-testid="${id}"]`), v);
  set("cost-usd", usd(s.cost_usd));
  for (const t of TOKEN_TYPES) set("tokens-" + t, int(s.tokens && s.tokens[t]));
  set("sessions", int(s.sessions));
  set("active-time", seconds(s.active_time_s));
  set("api-requests", int(s.api_requests));
  set("api-errors", int(s.api_errors));
  set("tool-calls", int(s.tool_calls));
  set("tool-failures", int(s.tool_failures));
  set("lines-added", int(s.lines_added));
  set("lines-removed", int(s.lines_removed));
  set("commits", int(s.commits));
  set("pull-requests", int(s.pull_requests));
  set("edit-accept-rate", pct(s.edit_accept_rate));
}

function showDaily(rows) {
  const models = [...new Set(rows.map((r) => r.model))].sort();
  chart("c-cost", models.map((m, i) => bars(m, PALETTE[i % PALETTE.length], { value: (u, v) => usd(v) })),
    columns(rows, (r) => daySecs(r.day), models, (r, m) => (r.model === m ? r.cost_usd : null)), {});
  chart("c-tokens", TOKEN_TYPES.map((t, i) => line(t, PALETTE[i], { value: (u, v) => int(v) })),
    columns(rows, (r) => daySecs(r.day), TOKEN_TYPES, (r, t) => r.tokens && r.tokens[t]),
    { axes: [{}, { size: 70, values: (u, vs) => vs.map((v) => (v >= 1e6 ? v / 1e6 + "M" : v >= 1e3 ? v / 1e3 + "k" : v)) }] });
}

function showSessionsDaily(rows) {
  chart("c-sessions", [
    bars("sessions", PALETTE[1], { scale: "n", value: (u, v) => int(v) }),
    line("active time (s)", PALETTE[0], { scale: "s", value: (u, v) => seconds(v) }),
  ], columns(rows, (r) => daySecs(r.day), ["sessions", "active_time_s"], (r, k) => r[k]),
  { axes: [{}, { scale: "n", size: 50 }, { scale: "s", side: 1, size: 60, grid: { show: false } }] });
}

function showApiRequests(rows) {
  const range = RANGES[$("f-range").value];
  const step = range && range <= 3 * 864e5 ? 3600 : 86400;
  const statuses = [...new Set(rows.flatMap((r) => Object.keys(r.errors_by_status || {})))].sort();
  const keys = ["requests", ...statuses.map((s) => "err:" + s), "p50_ms", "p95_ms"];
  // Each bucket drawn at its middle, as days are.
  const data = columns(rows, (r) => r.bucket_ms / 1000 + step / 2, keys, (r, k) =>
    k.startsWith("err:") ? (r.errors_by_status || {})[k.slice(4)] || 0 : r[k]);
  chart("c-api", [
    bars("requests", PALETTE[1], { scale: "n", value: (u, v) => int(v) }),
    ...statuses.map((s, i) => line("errors " + s, PALETTE[(i + 6) % PALETTE.length], { scale: "n", value: (u, v) => int(v) })),
    line("p50", PALETTE[2], { scale: "ms", value: (u, v) => ms(v) }),
    line("p95", PALETTE[0], { scale: "ms", dash: [6, 4], value: (u, v) => ms(v) }),
  ], data, { step, axes: [{}, { scale: "n", size: 50 }, { scale: "ms", side: 1, size: 70, grid: { show: false }, values: (u, vs) => vs.map(ms) }] });
}

function showCode(rows) {
  const keys = ["lines_added", "lines_removed", "commits", "pull_requests"];
  chart("c-code", [
    bars("lines added", PALETTE[2], { scale: "lines" }),
    bars("lines removed", PALETTE[6], { scale: "lines" }),
    line("commits", PALETTE[1], { scale: "n" }),
    line("pull requests", PALETTE[3], { scale: "n" }),
  ], columns(rows, (r) => daySecs(r.day), keys, (r, k) => r[k]),
  { axes: [{}, { scale: "lines", size: 50 }, { scale: "n", side: 1, size: 40, grid: { show: false } }] });
}

function showTools(rows) {
  const body = $("tools");
  body.textContent = "";
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.tool = r.tool;
    cell(tr, r.tool);
    cell(tr, int(r.calls), "n").dataset.testid = "tool-calls-" + r.tool;
    cell(tr, int(r.failures), "n");
    cell(tr, r.calls ? pct(r.failures / r.calls) : "–", "n");
    cell(tr, ms(r.p50_ms), "n");
    cell(tr, ms(r.p95_ms), "n");
  }
}

function showTopSessions(rows) {
  const body = $("sessions");
  body.textContent = "";
  for (const r of rows) {
    const tr = body.insertRow();
    const a = document.createElement("a");
    a.href = "#/session/" + encodeURIComponent(r.session_id);
    a.dataset.testid = "session-link";
    text(a, r.session_id);
    tr.insertCell().appendChild(a);
    cell(tr, short(r.user)).title = r.user || "";
    cell(tr, r.started_ms ? when(r.started_ms) : "–");
    cell(tr, r.started_ms && r.ended_ms ? seconds((r.ended_ms - r.started_ms) / 1000) : "–", "n");
    cell(tr, usd(r.cost_usd), "n");
    cell(tr, int(tokenTotal(r.tokens)), "n");
    cell(tr, int(r.api_requests), "n");
    cell(tr, int(r.tool_calls), "n");
    cell(tr, int(r.errors), "n");
  }
}

async function loadFilters() {
  const f = await api("filters");
  const fill = (select, values, label) => {
    const keep = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const v of values) ensureOption(select, v, label ? label(v) : v);
    ensureOption(select, keep);
    select.value = keep;
  };
  fill($("f-user"), f.users || [], short);
  fill($("f-model"), f.models || []);
  const attrs = Object.entries(f.attrs || {}).flatMap(([k, vs]) => vs.map((v) => k + ":" + v));
  fill($("f-attr"), attrs, (kv) => kv.replace(":", " = "));
}

async function loadOverview() {
  const q = filterQuery();
  const limited = new URLSearchParams(q);
  limited.set("limit", "20");
  const [summary, daily, sessionsDaily, tools, apiRequests, code, top] = await Promise.all([
    api("summary", q), api("daily", q), api("sessions_daily", q), api("tools", q),
    api("api_requests", q), api("code", q), api("top_sessions", limited),
  ]);
  showSummary(summary);
  showDaily(daily);
  showSessionsDaily(sessionsDaily);
  showTools(tools);
  showApiRequests(apiRequests);
  showCode(code);
  showTopSessions(top);
}

// ---- one session ---------------------------------------------------------------
const KIND_NAMES = { prompt: "prompt", api_request: "API request", api_error: "API error", tool_result: "tool call", tool_decision: "tool decision" };

async function loadSession(id) {
  const s = await api("session/" + encodeURIComponent(id));
  text($("session").querySelector('[data-testid="session-id"]'), s.session_id);
  text($("session").querySelector('[data-testid="session-user"]'), s.user || "–");
  text($("session").querySelector('[data-testid="session-event-count"]'), int(s.events.length));
  const dl = $("session-attrs");
  dl.textContent = "";
  for (const [k, v] of Object.entries(s.attrs || {}).sort()) {
    text(dl.appendChild(document.createElement("dt")), k);
    text(dl.appendChild(document.createElement("dd")), typeof v === "string" ? v : JSON.stringify(v));
  }
  const body = $("timeline");
  body.textContent = "";
  for (const e of s.events) {
    const tr = body.insertRow();
    tr.dataset.testid = "session-event";
    tr.dataset.kind = e.kind;
    if (e.kind === "api_error" || e.success === false) tr.className = "error";
    cell(tr, when(e.time_ms));
    cell(tr, KIND_NAMES[e.kind] || e.kind);
    cell(tr, e.tool || e.model || "");
    cell(tr, e.duration_ms == null ? "" : ms(e.duration_ms), "n");
    cell(tr, e.cost_usd == null ? "" : usd(e.cost_usd), "n");
    cell(tr, e.status != null ? String(e.status) : e.success == null ? "" : e.success ? "ok" : "failed");
    cell(tr, e.prompt || e.detail || "", "detail");
  }
  showSpans(s.spans || []);
}

// Spans (sent with CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1) under their
// parents, each with its events: an LLM request's attempts, a tool's output.
function showSpans(spans) {
  const depth = new Map();
  const parentOf = new Map(spans.map((sp) => [sp.span_id, sp.parent_span_id]));
  const depthOf = (id, seen = 0) => {
    if (depth.has(id)) return depth.get(id);
    const p = parentOf.get(id);
    const d = p && parentOf.has(p) && seen < 32 ? depthOf(p, seen + 1) + 1 : 0;
    depth.set(id, d);
    return d;
  };
  text($("session").querySelector('[data-testid="session-span-count"]'), spans.length ? "(" + int(spans.length) + ")" : "(none sent)");
  const body = $("spans");
  body.textContent = "";
  for (const sp of spans) {
    const tr = body.insertRow();
    tr.dataset.testid = "session-span";
    cell(tr, when(sp.time_ms));
    cell(tr, "\u00a0\u00a0".repeat(depthOf(sp.span_id)) + sp.name.replace(/^claude_code\./, ""));
    cell(tr, ms(sp.end_ms - sp.time_ms), "n");
    const events = cell(tr, "", "detail");
    for (const ev of sp.events || []) {
      const line = events.appendChild(document.createElement("div"));
      line.dataset.testid = "span-event";
      const attrs = Object.entries(ev.attrs || {}).map(([k, v]) => {
        const value = typeof v === "string" ? v : JSON.stringify(v);
        return k + "=" + (value.length > 80 ? value.slice(0, 80) + "…" : value);
      });
      text(line, ev.name + (attrs.length ? ": " + attrs.join(", ") : ""));
      line.title = JSON.stringify(ev.attrs || {}, null, 1).slice(0, 4000);
    }
  }
}

// ---- what runs -------------------------------------------------------------------
// One load at a time; a change during a load loads again after it.
async function load() {
  if (state.loading) {
    state.again = true;
    return;
  }
  state.loading = true;
  state.again = false;
  const hash = location.hash;
  const { path } = route();
  const session = path.startsWith("/session/") ? decodeURIComponent(path.slice(9)) : null;
  $("overview").hidden = !!session;
  $("session").hidden = !session;
  try {
    if (session) {
      await loadSession(session);
    } else {
      // The filter lists and the panels at once: each waited for the other.
      await Promise.all([loadFilters(), loadOverview()]);
    }
    text($("status"), "");
    $("token-form").hidden = true;
    // Charts paint on the next frame: the page is ready once it has (a
    // hidden tab gets no frames; it goes on after 100 ms).
    await new Promise((done) => {
      requestAnimationFrame(() => setTimeout(done, 0));
      setTimeout(done, 100);
    });
    // What was drawn, for tests and the curious: the hash it was drawn for.
    // The mark times it from navigation (bench/view.mjs reads the first).
    performance.mark("ccpipe-drawn", { detail: { hash, load: state.loads + 1 } });
    document.body.dataset.loadedHash = hash;
    document.body.dataset.loads = String(++state.loads);
  } catch (e) {
    if (e instanceof Unauthorized) {
      $("token-form").hidden = false;
      text($("status"), state.token ? "that token was refused" : "");
    } else {
      text($("status"), String(e.message || e));
    }
  } finally {
    state.loading = false;
  }
  if (state.again) load();
}

function start() {
  filtersFromHash();
  for (const id of ["f-range", "f-user", "f-model", "f-attr"]) {
    $(id).addEventListener("change", () => {
      saveFilters();
      load();
    });
  }
  $("f-refresh").addEventListener("click", load);
  $("token-form").querySelector("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("ccpipe-view-token", state.token);
    load();
  });
  window.addEventListener("hashchange", () => {
    filtersFromHash();
    load();
  });
  let resized;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(load, 200);
  });
  setInterval(() => {
    // Not while the page waits for its token: each try would be a 401.
    if ($("f-live").checked && !document.hidden && $("token-form").hidden) load();
  }, REFRESH_MS);
  load();
}

start();
