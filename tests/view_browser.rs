//! The web view as a person sees it: the real binary stores Claude Code's
//! captured telemetry (every capture variant, one of them re-attributed to a
//! second developer on a second model, plus API errors), headless Chromium
//! (Debian's `chromium`, driven by playwright-core from tests/browser/)
//! opens the page, and the numbers on screen must equal sums computed here
//! from the data sent: cost, tokens per type, tool calls, API errors; a
//! model, a user and a resource-attribute filter must change them to the
//! filtered sums; the top session's page must list its events; an error sent
//! while the page watches must appear without a click. The screenshot lands in
//! target/view.png (docs/view.png with CCPIPE_UPDATE_SCREENSHOT=1).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ccpipe_pipeline::records::{Records, Signal};
use common::process::Ccpipe;
use common::view::{config, get, view_addr};
use common::*;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;

const USER_A: &str = "c1a0de0000000000000000000000000000000000000000000000000000c0ffee";
/// The second developer: the http-json capture, re-attributed.
const USER_B: &str = "c1a0de0000000000000000000000000000000000000000000000000000beef00";
const MODEL_A: &str = "claude-opus-5-5";
const MODEL_B: &str = "claude-haiku-5-1";
/// The second developer's machine, a resource attribute.
const ENV_B: &str = "staging";
const TOKEN_TYPES: [&str; 4] = ["input", "output", "cacheRead", "cacheCreation"];

/// API errors (attempt number, status) for the second developer's session,
/// as Claude Code reports them (TELEMETRY.md: `api_error`).
fn api_errors_json(session: &str, errors: &[(u64, i64)]) -> String {
    let record = |&(i, status): &(u64, i64)| {
        format!(
            r#"{{"timeUnixNano":"{}","body":{{"stringValue":"claude_code.api_error"}},"attributes":[
  {{"key":"event.name","value":{{"stringValue":"api_error"}}}},
  {{"key":"event.timestamp","value":{{"stringValue":"2026-11-21T10:08:0{i}.000Z"}}}},
  {{"key":"session.id","value":{{"stringValue":"{session}"}}}},
  {{"key":"user.id","value":{{"stringValue":"{USER_B}"}}}},
  {{"key":"model","value":{{"stringValue":"{MODEL_B}"}}}},
  {{"key":"error","value":{{"stringValue":"rate limited"}}}},
  {{"key":"status_code","value":{{"intValue":"{status}"}}}},
  {{"key":"duration_ms","value":{{"intValue":"120"}}}},
  {{"key":"attempt","value":{{"intValue":"{i}"}}}}]}}"#,
            1_795_303_690_000_000_000u64 + i * 1_000_000_000
        )
    };
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"claude-code"}}}},{{"key":"deployment.environment","value":{{"stringValue":"{ENV_B}"}}}}]}},"scopeLogs":[{{"scope":{{"name":"com.anthropic.claude_code.events"}},"logRecords":[{}]}}]}}]}}"#,
        errors.iter().map(record).collect::<Vec<_>>().join(",")
    )
}

/// Every variant as captured, except http-json: a second user on a second
/// model in another deployment environment; then the API errors.
fn data_to_send() -> Vec<Vec<Capture>> {
    let mut out = Vec::new();
    for variant in VARIANTS {
        let mut captures = load_variant(variant);
        if *variant == "http-json" {
            for c in &mut captures {
                let text = String::from_utf8(c.body.clone()).unwrap();
                let text = text
                    .replace(USER_A, USER_B)
                    .replace(MODEL_A, MODEL_B)
                    .replace(
                        r#"{"stringValue":"harness"}"#,
                        &format!(r#"{{"stringValue":"{ENV_B}"}}"#),
                    );
                c.expected = ccpipe_pipeline::otlp_json::decode(c.signal, text.as_bytes()).unwrap();
                c.body = text.into_bytes();
            }
            let session = session_ids(&captures).into_iter().next().unwrap();
            let body = api_errors_json(&session, &[(1, 429), (2, 529)]).into_bytes();
            let expected = ccpipe_pipeline::otlp_json::decode(Signal::Logs, &body).unwrap();
            captures.push(Capture {
                file: "api-errors".into(),
                signal: Signal::Logs,
                wire: Wire::HttpJson,
                items: expected.item_count(),
                body,
                expected,
            });
        }
        out.push(captures);
    }
    out
}

fn text_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            any_value::Value::IntValue(i) => Some(i.to_string()),
            _ => None,
        }
    })
}

fn session_ids(captures: &[Capture]) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    for c in captures {
        if let Records::Logs(r) = &c.expected {
            for rec in r
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                ids.extend(text_attr(&rec.attributes, "session.id"));
            }
        }
    }
    ids
}

/// Which records count: all, one model's, one user's.
#[derive(Clone, Copy)]
enum Only<'a> {
    All,
    Model(&'a str),
    User(&'a str),
    Session(&'a str),
    /// A resource attribute's value.
    Resource(&'a str, &'a str),
}

impl Only<'_> {
    fn keeps(&self, resource: Option<&Resource>, attrs: &[KeyValue]) -> bool {
        let is = |key: &str, want: &str| text_attr(attrs, key).as_deref() == Some(want);
        match *self {
            Only::All => true,
            Only::Model(m) => is("model", m),
            Only::User(u) => is("user.id", u),
            Only::Session(s) => is("session.id", s),
            Only::Resource(k, v) => {
                resource
                    .and_then(|r| text_attr(&r.attributes, k))
                    .as_deref()
                    == Some(v)
            }
        }
    }
}

/// The sums the view must show, computed from what was sent.
#[derive(Debug, Default, PartialEq)]
struct Sums {
    cost: f64,
    tokens: BTreeMap<String, f64>,
    events: BTreeMap<String, usize>,
    spans: usize,
    /// Span events by name.
    span_events: BTreeMap<String, usize>,
}

fn sums(all: &[Vec<Capture>], only: Only) -> Sums {
    let mut s = Sums::default();
    for c in all.iter().flatten() {
        match &c.expected {
            Records::Metrics(r) => {
                for (res, m) in r.resource_metrics.iter().flat_map(|rm| {
                    rm.scope_metrics
                        .iter()
                        .flat_map(|s| &s.metrics)
                        .map(move |m| (rm.resource.as_ref(), m))
                }) {
                    let Some(Data::Sum(sum)) = &m.data else {
                        continue;
                    };
                    for p in sum
                        .data_points
                        .iter()
                        .filter(|p| only.keeps(res, &p.attributes))
                    {
                        let v = point_value(p.value);
                        match m.name.as_str() {
                            "claude_code.cost.usage" => s.cost += v,
                            "claude_code.token.usage" => {
                                let kind = text_attr(&p.attributes, "type").unwrap_or_default();
                                *s.tokens.entry(kind).or_default() += v;
                            }
                            _ => {}
                        }
                    }
                }
            }
            Records::Logs(r) => {
                for (res, rec) in r.resource_logs.iter().flat_map(|rl| {
                    rl.scope_logs
                        .iter()
                        .flat_map(|s| &s.log_records)
                        .map(move |rec| (rl.resource.as_ref(), rec))
                }) {
                    if !only.keeps(res, &rec.attributes) {
                        continue;
                    }
                    if let Some(name) = text_attr(&rec.attributes, "event.name") {
                        *s.events.entry(name).or_default() += 1;
                    }
                }
            }
            Records::Traces(r) => {
                for (res, span) in r.resource_spans.iter().flat_map(|rs| {
                    rs.scope_spans
                        .iter()
                        .flat_map(|s| &s.spans)
                        .map(move |span| (rs.resource.as_ref(), span))
                }) {
                    if !only.keeps(res, &span.attributes) {
                        continue;
                    }
                    s.spans += 1;
                    for e in &span.events {
                        *s.span_events.entry(e.name.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    s
}

/// A number as the page prints it: `$0.1234`, `12,345`.
fn shown(text: &str) -> f64 {
    let digits: String = text.chars().filter(|c| !matches!(c, '$' | ',')).collect();
    digits
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number on screen: {text:?}"))
}

fn assert_cost_and_tokens(what: &str, screen: &serde_json::Value, want: &Sums) {
    let cost = shown(screen["cost-usd"].as_str().unwrap());
    assert!(
        (cost - want.cost).abs() < 0.000051,
        "{what}: cost on screen {cost}, sent {}",
        want.cost
    );
    for t in TOKEN_TYPES {
        let on_screen = shown(screen[format!("tokens-{t}")].as_str().unwrap());
        let sent = want.tokens.get(t).copied().unwrap_or(0.0);
        assert_eq!(on_screen, sent.round(), "{what}: {t} tokens");
    }
}

fn assert_events(what: &str, screen: &serde_json::Value, want: &Sums) {
    let count = |name: &str| want.events.get(name).copied().unwrap_or(0) as f64;
    let tool_calls = shown(screen["tool-calls"].as_str().unwrap());
    assert_eq!(tool_calls, count("tool_result"), "{what}: tool calls");
    let api_errors = shown(screen["api-errors"].as_str().unwrap());
    assert_eq!(api_errors, count("api_error"), "{what}: API errors");
    let per_tool: f64 = screen["tools"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| shown(v.as_str().unwrap()))
        .sum();
    assert_eq!(
        per_tool,
        count("tool_result"),
        "{what}: the tools table's calls"
    );
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// playwright-core from tests/browser/package-lock.json (`.ci/run` installs
/// it; a developer's first run does here).
fn ensure_playwright() {
    let dir = browser_dir();
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("npm (Debian's npm package) is needed for the browser test");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_sums_of_the_data_and_filters_change_them() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium (bash .ci/run installs it)"
    );
    ensure_playwright();
    let dir = temp_dir("view-browser");
    let db = dir.join("ccpipe.db");
    let ccpipe = Ccpipe::start(&write_config(&dir, &config(&db, "")));
    let view = view_addr(&ccpipe.stderr());

    let data = data_to_send();
    for captures in &data {
        if matches!(captures[0].wire, Wire::Grpc { .. }) {
            send_grpc(ccpipe.grpc.unwrap(), captures).await;
            continue;
        }
        let http = ccpipe.http.unwrap();
        let bodies: Vec<(Signal, Wire, Vec<u8>)> = captures
            .iter()
            .map(|c| (c.signal, c.wire, c.body.clone()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut conn = HttpConn::connect(http);
            for (signal, wire, body) in bodies {
                let c = Capture {
                    file: String::new(),
                    signal,
                    wire,
                    body,
                    expected: Records::empty(signal),
                    items: 0,
                };
                assert_eq!(conn.send_capture(&c).status, 200);
            }
        })
        .await
        .unwrap();
    }

    let all = sums(&data, Only::All);
    assert!(
        all.events["api_error"] == 2 && all.events["tool_result"] > 0,
        "{all:?}"
    );
    // Stored once the API counts every tool call and error (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(view, "/api/summary");
        let s = r.json();
        if s["tool_calls"] == all.events["tool_result"] && s["api_errors"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not all stored after 60 s: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Sent while the page watches: one more API error.
    let live = dir.join("live.json");
    let http_json = VARIANTS.iter().position(|v| *v == "http-json").unwrap();
    let session_b = session_ids(&data[http_json]).into_iter().next().unwrap();
    std::fs::write(&live, api_errors_json(&session_b, &[(3, 500)])).unwrap();
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/view.png");
    let out = Command::new("node")
        .env(
            "VIEW_LIVE_POST",
            format!("http://{}/v1/logs|{}", ccpipe.http.unwrap(), live.display()),
        )
        .arg(browser_dir().join("view.mjs"))
        .arg(format!("http://{view}/"))
        .arg(&shot)
        .arg(MODEL_B)
        .arg(USER_B)
        .arg(format!("deployment.environment:{ENV_B}"))
        .output()
        .expect("node (Debian's nodejs) runs the browser");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed:\n{stderr}");
    let screen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(
        screen["console_errors"],
        serde_json::json!([]),
        "page errors"
    );
    assert_eq!(screen["status"], "", "the page reported an error");

    // Everything.
    assert_cost_and_tokens("all", &screen["all"], &all);
    assert_events("all", &screen["all"], &all);
    assert!(
        screen["all"]["charts"].as_u64().unwrap() >= 5,
        "charts drawn: {}",
        screen["all"]
    );
    // One model: cost and tokens narrow to it (tool calls carry no model).
    let model = sums(&data, Only::Model(MODEL_B));
    assert!(model.cost > 0.0 && model.cost < all.cost, "{model:?}");
    assert_cost_and_tokens("model filter", &screen["model"], &model);
    // One user: everything narrows to that user's records.
    let user = sums(&data, Only::User(USER_B));
    assert_cost_and_tokens("user filter", &screen["user"], &user);
    assert_events("user filter", &screen["user"], &user);
    assert_cost_and_tokens("bookmarked user filter", &screen["bookmarked_user"], &user);
    assert_events("bookmarked user filter", &screen["bookmarked_user"], &user);
    // One resource attribute (the second developer's environment).
    let env = sums(&data, Only::Resource("deployment.environment", ENV_B));
    assert_eq!(env.events["api_error"], 2, "{env:?}");
    assert_cost_and_tokens("attribute filter", &screen["attr"], &env);
    assert_events("attribute filter", &screen["attr"], &env);

    // The top session by cost opens, with its events.
    let link = screen["session_link"].as_str().unwrap();
    let page = &screen["session"];
    assert_eq!(page["id"], link);
    let ids: Vec<String> = data.iter().flat_map(|c| session_ids(c)).collect();
    let top = ids
        .iter()
        .map(|id| sums(&data, Only::Session(id)).cost)
        .fold(0.0, f64::max);
    let session = sums(&data, Only::Session(link));
    assert!(
        (session.cost - top).abs() < 1e-9,
        "{link} is not a top session by cost"
    );
    let rows = page["events"].as_array().unwrap();
    for kind in ["api_request", "tool_result", "tool_decision"] {
        let on_page = rows.iter().filter(|r| r["kind"] == kind).count();
        let sent = session.events.get(kind).copied().unwrap_or(0);
        assert_eq!(on_page, sent, "{link}: {kind} rows on the session page");
    }
    let prompts: Vec<&serde_json::Value> = rows.iter().filter(|r| r["kind"] == "prompt").collect();
    assert_eq!(
        prompts.len(),
        session.events.get("user_prompt").copied().unwrap_or(0)
    );

    // Its spans, each with its events (a tool's output, an LLM attempt).
    assert!(session.spans > 0, "{link} sent spans");
    assert_eq!(page["spans"], session.spans, "{link}: span rows");
    let mut shown_events: BTreeMap<String, usize> = BTreeMap::new();
    for e in page["span_events"].as_array().unwrap() {
        let name = e.as_str().unwrap().split(':').next().unwrap().to_owned();
        *shown_events.entry(name).or_default() += 1;
    }
    assert_eq!(shown_events, session.span_events, "{link}: span events");

    // Watching: the error sent while the page was open appeared unasked.
    assert_eq!(screen["live_post_status"], 200);
    assert_eq!(shown(screen["live_api_errors"].as_str().unwrap()), 3.0);

    if std::env::var_os("CCPIPE_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/view.png");
        std::fs::copy(&shot, docs).unwrap();
    }
    drop(ccpipe);
    let _ = std::fs::remove_dir_all(dir);
}

/// With `auth`, the page opens without the token, asks for it, refuses a
/// wrong one and shows the numbers with the right one.
#[test]
fn with_auth_the_page_asks_for_the_token() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "needs Debian's chromium"
    );
    ensure_playwright();
    let dir = temp_dir("view-browser-auth");
    let auth = "    auth: { bearer_token_env: CCPIPE_VIEW_TEST_TOKEN }";
    let mut cmd = Command::new(common::process::bin());
    cmd.arg("--config")
        .arg(write_config(&dir, &config(&dir.join("ccpipe.db"), auth)))
        .env("CCPIPE_VIEW_TEST_TOKEN", "open sesame");
    let ccpipe = Ccpipe::start_command(cmd);
    let view = view_addr(&ccpipe.stderr());
    let out = Command::new("node")
        .arg(browser_dir().join("view.mjs"))
        .arg(format!("http://{view}/"))
        .arg(dir.join("auth.png"))
        .args(["-", "-", "-", "open sesame"])
        .output()
        .expect("node runs the browser");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed:\n{stderr}");
    let screen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(screen["wrong_token_status"], "that token was refused");
    assert_eq!(screen["token_form_hidden"], true);
    assert_eq!(screen["all"]["tool-calls"], "0", "an empty store, shown");
    // The browser logs each refused request (a load asks for the filter
    // lists and the panels at once); nothing else may go wrong.
    let errors = screen["console_errors"].as_array().unwrap();
    assert!(
        errors.len() >= 2 && errors.iter().all(|e| e.as_str().unwrap().contains("401")),
        "{errors:?}"
    );
    drop(ccpipe);
    let _ = std::fs::remove_dir_all(dir);
}
