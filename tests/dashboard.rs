//! The Datadog dashboard: `configs/dashboards/datadog-claude-code.json` only
//! queries what Claude Code sends (TELEMETRY.md and the captures), what the
//! `claude_code_metrics` connector of configs/datadog.yaml derives from it
//! (docs/claude_code_metrics.md), and the `repository` attribute a rollout
//! adds (docs/rollout.md); and
//! `ccpipe datadog dashboard push` against a fake Datadog API on 127.0.0.1.

mod common;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dashboard() -> Value {
    let path = root().join("configs/dashboards/datadog-claude-code.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the dashboard parses")
}

// ---------------------------------------------------------------------------
// What Claude Code sends.

struct Known {
    /// Metric name → its data-point attribute keys (from the captures).
    metrics: Vec<(String, BTreeSet<String>)>,
    /// Event names (captures and TELEMETRY.md).
    events: BTreeSet<String>,
    /// Log attribute keys as the Agent stores them (record and resource
    /// attributes, from the captures and TELEMETRY.md).
    log_attrs: BTreeSet<String>,
    /// The connector's metrics → (histogram, their tags).
    derived: Vec<(String, bool, BTreeSet<String>)>,
}

/// `claude_code_metrics`' table in docs/claude_code_metrics.md, with the
/// connector's `dimensions` in configs/datadog.yaml (and `service`).
fn derived_metrics() -> Vec<(String, bool, BTreeSet<String>)> {
    let doc = std::fs::read_to_string(root().join("docs/claude_code_metrics.md")).unwrap();
    let config: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("configs/datadog.yaml")).unwrap(),
    )
    .unwrap();
    let dimensions: Vec<String> = config["connectors"]["claude_code_metrics"]["dimensions"]
        .as_sequence()
        .expect("configs/datadog.yaml: claude_code_metrics.dimensions")
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    let mut out = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (names, kind, labels) = (cells[2], cells[3], cells[4]);
        let mut tags: BTreeSet<String> = backticked(labels).into_iter().collect();
        tags.extend(dimensions.iter().cloned());
        tags.insert("service".into());
        for name in backticked(names) {
            out.push((name, kind.starts_with("histogram"), tags.clone()));
        }
    }
    assert!(out.len() >= 8, "{out:?}");
    out
}

fn backticked(line: &str) -> Vec<String> {
    line.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn known() -> Known {
    let shared = root().join("tests/fixtures/claude-code");
    let doc = std::fs::read_to_string(shared.join("TELEMETRY.md")).unwrap();
    let mut metric_names = Vec::new();
    let mut events = BTreeSet::new();
    let mut log_attrs = BTreeSet::new();
    let mut in_events = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_events = line.starts_with("## Events");
        }
        if line.starts_with("| `claude_code.") {
            metric_names.push(backticked(line)[0].clone());
        }
        if in_events && line.starts_with("- `") {
            let (names, attrs) = line.split_once(':').unwrap_or((line, ""));
            events.extend(backticked(names));
            log_attrs.extend(backticked(attrs));
        }
    }
    assert!(metric_names.len() >= 8, "{metric_names:?}");

    let mut metrics: Vec<(String, BTreeSet<String>)> = metric_names
        .iter()
        .map(|n| (n.clone(), BTreeSet::new()))
        .collect();
    let keys = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|kv| kv["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let captures = shared.join("captures");
    for variant in std::fs::read_dir(&captures).unwrap() {
        let dir = variant.unwrap().path().join("otlp");
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".decoded.json") {
                continue;
            }
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            for rl in v["resourceLogs"].as_array().into_iter().flatten() {
                log_attrs.extend(keys(&rl["resource"]["attributes"]));
                for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                    for lr in sl["logRecords"].as_array().into_iter().flatten() {
                        log_attrs.extend(keys(&lr["attributes"]));
                        for kv in lr["attributes"].as_array().into_iter().flatten() {
                            if kv["key"] == "event.name" {
                                events.insert(
                                    kv["value"]["stringValue"].as_str().unwrap().to_owned(),
                                );
                            }
                        }
                    }
                }
            }
            for rm in v["resourceMetrics"].as_array().into_iter().flatten() {
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        let name = m["name"].as_str().unwrap();
                        let Some((_, attrs)) = metrics.iter_mut().find(|(n, _)| n == name) else {
                            panic!("{name} is in the captures but not in TELEMETRY.md");
                        };
                        for p in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                            attrs.extend(keys(&p["attributes"]));
                        }
                    }
                }
            }
        }
    }
    assert!(events.contains("tool_result") && events.contains("api_error"));
    Known {
        metrics,
        events,
        log_attrs,
        derived: derived_metrics(),
    }
}

/// Tags the Agent puts on every metric besides the data-point attributes
/// (from service.name, deployment.environment.name, service.version, host).
const AGENT_TAGS: &[&str] = &["env", "service", "version", "host"];
/// Resource attributes a rollout sets through OTEL_RESOURCE_ATTRIBUTES
/// (`claude-settings --resource`), which Claude Code copies onto every point.
const ROLLOUT_TAGS: &[&str] = &["repository"];
/// Aggregators of a distribution (an OTLP histogram through the Agent).
const DISTRIBUTION_AGGREGATORS: &[&str] = &[
    "avg", "count", "max", "min", "p50", "p75", "p90", "p95", "p99",
];
/// `FormulaAndFunctionEventAggregation` in the Dashboards API.
const EVENT_AGGREGATIONS: &[&str] = &[
    "count",
    "cardinality",
    "median",
    "pc75",
    "pc90",
    "pc95",
    "pc98",
    "pc99",
    "sum",
    "min",
    "max",
    "avg",
];

fn template_vars(d: &Value) -> Vec<(String, String)> {
    d["template_variables"]
        .as_array()
        .expect("template_variables")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["prefix"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every widget definition, groups included.
fn definitions(widgets: &Value, out: &mut Vec<Value>) {
    for w in widgets.as_array().expect("widgets is an array") {
        let def = &w["definition"];
        assert!(def["type"].is_string(), "a widget without a type: {w}");
        out.push(def.clone());
        if def["type"] == "group" {
            definitions(&def["widgets"], out);
        }
    }
}

/// Checks one metrics query: `sum:NAME{filters} [by {tags}].as_count()`, or
/// `pNN:NAME{filters} [by {tags}]` for the connector's histograms.
fn check_metric_query(q: &str, known: &Known, vars: &[(String, String)]) {
    let (aggregator, rest) = q.split_once(':').unwrap_or_else(|| panic!("{q}"));
    let (name, rest) = rest.split_once('{').unwrap_or_else(|| panic!("{q}"));
    let (histogram, tags) = match known.metrics.iter().find(|(n, _)| n == name) {
        Some((_, tags)) => (false, tags),
        None => known
            .derived
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, h, tags)| (*h, tags))
            .unwrap_or_else(|| {
                panic!("{q}: {name} is neither a metric Claude Code sends nor one the connector derives")
            }),
    };
    let tag_ok = |t: &str| tags.contains(t) || AGENT_TAGS.contains(&t) || ROLLOUT_TAGS.contains(&t);
    let (filters, rest) = rest.split_once('}').unwrap();
    for f in filters.split(',') {
        if let Some(var) = f.strip_prefix('$') {
            let (_, prefix) = vars
                .iter()
                .find(|(n, _)| n == var)
                .unwrap_or_else(|| panic!("{q}: no template variable {var}"));
            assert!(tag_ok(prefix), "{q}: {name} has no tag {prefix} for ${var}");
        } else if f != "*" {
            let (k, _) = f
                .split_once(':')
                .unwrap_or_else(|| panic!("{q}: filter {f}"));
            assert!(tag_ok(k), "{q}: {name} has no tag {k}");
        }
    }
    if let Some(by) = rest.strip_prefix(" by {") {
        let (by, _) = by.split_once('}').unwrap();
        for t in by.split(',') {
            assert!(tag_ok(t), "{q}: {name} has no tag {t}");
        }
    }
    if histogram {
        assert!(
            DISTRIBUTION_AGGREGATORS.contains(&aggregator) && !q.contains(".as_count()"),
            "{q}: a distribution takes {DISTRIBUTION_AGGREGATORS:?}"
        );
    } else {
        assert!(q.ends_with(".as_count()"), "{q}: counts need .as_count()");
    }
}

fn check_attr(a: &str, known: &Known, q: &str) {
    let a = a
        .strip_prefix('@')
        .unwrap_or_else(|| panic!("{q}: {a} lacks @"));
    assert!(
        known.log_attrs.contains(a),
        "{q}: events have no attribute {a}"
    );
}

/// Checks one logs query (search, compute, group by).
fn check_log_query(q: &Value, known: &Known, vars: &[(String, String)]) {
    let search = q["search"]["query"].as_str().expect("search.query");
    for term in search.split_whitespace() {
        let (k, v) = term
            .split_once(':')
            .unwrap_or_else(|| panic!("{search}: {term}"));
        if let Some(var) = v.strip_prefix('$') {
            let var = var.strip_suffix(".value").unwrap_or(var);
            assert!(
                vars.iter().any(|(n, _)| n == var),
                "{search}: no template variable {var}"
            );
        }
        match k {
            "service" | "env" => {}
            "@event.name" => assert!(known.events.contains(v), "{search}: no event {v}"),
            attr => check_attr(attr, known, search),
        }
    }
    assert!(
        search.contains("service:"),
        "{search}: must keep to Claude Code's service"
    );
    let agg = q["compute"]["aggregation"]
        .as_str()
        .expect("compute.aggregation");
    assert!(
        EVENT_AGGREGATIONS.contains(&agg),
        "{search}: aggregation {agg}"
    );
    if let Some(m) = q["compute"]["metric"].as_str() {
        check_attr(m, known, search);
    }
    for g in q["group_by"].as_array().into_iter().flatten() {
        check_attr(g["facet"].as_str().unwrap(), known, search);
    }
}

fn walk_keys(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(format!("{path}.{k}"));
                walk_keys(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk_keys(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_dashboard_queries_only_what_claude_code_sends() {
    let d = dashboard();
    let known = known();
    assert_eq!(d["layout_type"], "ordered");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let vars = template_vars(&d);
    assert_eq!(
        vars,
        [
            ("env".to_owned(), "env".to_owned()),
            ("service".to_owned(), "service".to_owned()),
            ("model".to_owned(), "model".to_owned()),
            ("user".to_owned(), "user.id".to_owned()),
            ("repository".to_owned(), "repository".to_owned()),
        ]
    );

    // No ids, urls or authors: Datadog assigns them, and a copied id would
    // tie the file to one organisation.
    let mut keys = Vec::new();
    walk_keys(&d, "", &mut keys);
    for k in &keys {
        let last = k.rsplit('.').next().unwrap();
        assert!(
            ![
                "id",
                "url",
                "author_handle",
                "author_name",
                "created_at",
                "modified_at"
            ]
            .contains(&last),
            "hard-coded {k}"
        );
    }

    let mut defs = Vec::new();
    definitions(&d["widgets"], &mut defs);
    let mut metrics_used = BTreeSet::new();
    let mut events_used = BTreeSet::new();
    let mut queries = 0;
    for def in &defs {
        for r in def["requests"].as_array().into_iter().flatten() {
            let qs = r["queries"].as_array().expect("formula-style requests");
            let names: Vec<&str> = qs.iter().map(|q| q["name"].as_str().unwrap()).collect();
            for q in qs {
                queries += 1;
                match q["data_source"].as_str() {
                    Some("metrics") => {
                        let text = q["query"].as_str().unwrap();
                        check_metric_query(text, &known, &vars);
                        metrics_used.insert(text.split(['{', ':']).nth(1).unwrap().to_owned());
                    }
                    Some("logs") => {
                        check_log_query(q, &known, &vars);
                        let s = q["search"]["query"].as_str().unwrap();
                        if let Some(e) = s.split("@event.name:").nth(1) {
                            events_used.insert(e.split_whitespace().next().unwrap().to_owned());
                        }
                    }
                    other => panic!("unexpected data source {other:?}"),
                }
            }
            for f in r["formulas"].as_array().expect("formulas") {
                let formula = f["formula"].as_str().unwrap();
                for word in formula.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if word.is_empty() || word.chars().all(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    assert!(names.contains(&word), "{formula}: no query named {word}");
                }
            }
        }
    }
    assert!(queries >= 20, "{queries} queries");
    // The issue's widgets: every metric, and the three events.
    let all: BTreeSet<String> = known.metrics.iter().map(|(n, _)| n.clone()).collect();
    let missing: Vec<&String> = all.difference(&metrics_used).collect();
    assert!(
        missing.is_empty(),
        "Claude Code metrics without a widget: {missing:?}"
    );
    // API latency from the connector's histogram: no log measure to create.
    assert!(
        metrics_used.contains("claude_code.api.duration"),
        "{metrics_used:?}"
    );
    assert_eq!(
        events_used,
        ["api_error", "api_request", "tool_result"]
            .map(String::from)
            .into()
    );
    let titles: Vec<&str> = defs.iter().filter_map(|d| d["title"].as_str()).collect();
    for want in [
        "Total cost",
        "Cost by model",
        "Tokens by type",
        "Cache-hit ratio",
        "Sessions",
        "Active time",
        "Lines of code",
        "Commits",
        "Pull requests",
        "Edit-tool accept rate",
        "Tool calls by tool",
        "Tool failure rate by tool",
        "API latency p50 / p95",
        "Cost by repository",
        "Tokens by repository",
        "API errors by status code",
        "Top users by cost",
        "Top sessions by cost",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(want)),
            "no widget {want:?} in {titles:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// A fake Datadog API.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    dashboards: Vec<(String, String, Value)>,
    requests: Vec<Recorded>,
    next: usize,
}

struct FakeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// Starts with `others` unrelated dashboards, so the one pushed is found
    /// only by reading the list page by page.
    fn start(others: usize) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut state = State::default();
        for i in 0..others {
            state
                .dashboards
                .push((format!("oth-er{i:03}-xyz"), format!("Other {i}"), json!({})));
        }
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(conn, &state));
            }
        });
        FakeApi { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn titled(&self, title: &str) -> Vec<(String, Value)> {
        self.state
            .lock()
            .unwrap()
            .dashboards
            .iter()
            .filter(|(_, t, _)| t == title)
            .map(|(id, _, b)| (id.clone(), b.clone()))
            .collect()
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let req = Recorded {
            method,
            path,
            headers,
            body,
        };
        let (status, answer) = answer(&req, &mut state.lock().unwrap());
        let text = answer.to_string();
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(req: &Recorded, state: &mut State) -> (&'static str, Value) {
    state.requests.push(req.clone());
    if req.header("dd-api-key") == Some("bad-api-key") {
        return ("403 Forbidden", json!({"errors": ["Forbidden"]}));
    }
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let param = |name: &str| -> usize {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map_or(0, |v| v.parse().unwrap())
    };
    match (req.method.as_str(), path) {
        ("GET", "/api/v1/dashboard") => {
            let (start, count) = (param("start"), param("count"));
            let page: Vec<Value> = state
                .dashboards
                .iter()
                .skip(start)
                .take(count)
                .map(|(id, title, _)| json!({"id": id, "title": title}))
                .collect();
            ("200 OK", json!({"dashboards": page}))
        }
        ("POST", "/api/v1/dashboard") => {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            state.next += 1;
            let id = format!("abc-def-{:03}", state.next);
            let title = body["title"].as_str().unwrap().to_owned();
            state.dashboards.push((id.clone(), title, body));
            (
                "200 OK",
                json!({"id": id, "url": format!("/dashboard/{id}/claude-code")}),
            )
        }
        ("PUT", p) if p.starts_with("/api/v1/dashboard/") => {
            let id = &p["/api/v1/dashboard/".len()..];
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            match state.dashboards.iter_mut().find(|(i, _, _)| i == id) {
                Some(d) => {
                    d.1 = body["title"].as_str().unwrap().to_owned();
                    d.2 = body;
                    (
                        "200 OK",
                        json!({"id": id, "url": format!("/dashboard/{id}/claude-code")}),
                    )
                }
                None => ("404 Not Found", json!({"errors": ["Dashboard not found"]})),
            }
        }
        _ => ("404 Not Found", json!({"errors": ["no such endpoint"]})),
    }
}

fn push(api: &FakeApi, api_key: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccpipe"))
        .args(["datadog", "dashboard", "push", "--api-url", &api.url()])
        .args(extra)
        .env("DD_API_KEY", api_key)
        .env("DD_APP_KEY", "app-key-secret-0123")
        .env_remove("DD_SITE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const TITLE: &str = "Claude Code (ccpipe)";

#[test]
fn push_creates_then_updates_the_same_dashboard() {
    let api = FakeApi::start(150);
    let out = push(&api, "api-key-secret-4567", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("created dashboard") && stdout.contains("abc-def-001"),
        "{stdout}"
    );
    let reqs = api.requests();
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        ["GET", "GET", "POST"],
        "two list pages, then create"
    );
    for r in &reqs {
        assert_eq!(r.header("dd-api-key"), Some("api-key-secret-4567"));
        assert_eq!(r.header("dd-application-key"), Some("app-key-secret-0123"));
    }
    assert_eq!(reqs[2].header("content-type"), Some("application/json"));
    let created = api.titled(TITLE);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].1, dashboard(), "the file is sent as it is");

    let out = push(&api, "api-key-secret-4567", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("updated dashboard")
            && text(&out.stdout).contains("abc-def-001"),
        "{}",
        text(&out.stdout)
    );
    let reqs = api.requests();
    let last = reqs.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PUT", "/api/v1/dashboard/abc-def-001")
    );
    assert_eq!(api.titled(TITLE).len(), 1, "still one dashboard");
}

#[test]
fn dry_run_sends_nothing() {
    let api = FakeApi::start(0);
    let out = push(&api, "api-key-secret-4567", &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("dry run, nothing sent"), "{stdout}");
    assert!(stdout.contains(TITLE), "{stdout}");
    // Give a stray connection time to show up before concluding none came.
    std::thread::sleep(Duration::from_millis(100));
    assert!(api.requests().is_empty());
    assert!(api.titled(TITLE).is_empty());
}

#[test]
fn forbidden_is_explained_without_the_keys() {
    let api = FakeApi::start(0);
    let out = push(&api, "bad-api-key", &[]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("403 Forbidden"), "{all}");
    assert!(all.contains("DD_APP_KEY"), "{all}");
    assert!(
        !all.contains("bad-api-key") && !all.contains("app-key-secret-0123"),
        "{all}"
    );
    assert_eq!(api.requests().len(), 1, "nothing after the refusal");
}

#[test]
fn missing_keys_and_another_file() {
    let api = FakeApi::start(0);
    let out = Command::new(env!("CARGO_BIN_EXE_ccpipe"))
        .args(["datadog", "dashboard", "push", "--api-url", &api.url()])
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("DD_API_KEY and DD_APP_KEY are not set"),
        "{}",
        text(&out.stderr)
    );
    assert!(api.requests().is_empty());

    // common::temp_dir sweeps folders of finished runs; this one stays for
    // reading after a failure until then.
    let dir: PathBuf = common::temp_dir("dash");
    let file = dir.join("mine.json");
    std::fs::write(
        &file,
        r#"{"id":"old-id-000","title":"Mine","layout_type":"ordered","widgets":[]}"#,
    )
    .unwrap();
    let out = push(&api, "k1", &["--file", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mine = api.titled("Mine");
    assert_eq!(mine.len(), 1);
    assert!(
        mine[0].1.get("id").is_none(),
        "read-only fields are dropped"
    );
}
