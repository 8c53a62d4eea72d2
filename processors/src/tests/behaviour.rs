//! Behaviour tables per processor over small hand-built batches.

use ccpipe_pipeline::factory::ComponentSettings;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality::{Cumulative, Delta};
use opentelemetry_proto::tonic::trace::v1::span::Link;
use opentelemetry_proto::tonic::trace::v1::Status;

use ccpipe_pipeline::{Records, Signal};

use super::*;
use crate::attributes::AttributesConfig;
use crate::filter::FilterConfig;
use crate::hashing::KeyedHash;
use crate::redaction::RedactionConfig;
use crate::resource::ResourceConfig;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn hmac(v: &str) -> String {
    KeyedHash::new(KEY).hex(v.as_bytes())
}

// ---------------------------------------------------------------- resource

#[test]
fn resource_table() {
    let base = || {
        vec![
            ("service.name", s("claude-code")),
            ("os.version", s("6.18")),
            ("team", s("platform")),
        ]
    };
    // (actions, expected resource attributes)
    let cases: Vec<(&str, Vec<KeyValue>)> = vec![
        (
            // the example
            "- { key: deployment.environment.name, value: dev, action: upsert }\n\
             - { key: team, value: other, action: insert }\n\
             - { key: os.version, action: delete }\n\
             - { key: service.namespace, from_attribute: team, action: upsert }",
            attrs(&[
                ("service.name", s("claude-code")),
                ("team", s("platform")),
                ("deployment.environment.name", s("dev")),
                ("service.namespace", s("platform")),
            ]),
        ),
        (
            "- { key: replicas, value: 3, action: insert }\n- { key: ratio, value: 0.5, action: insert }\n- { key: canary, value: true, action: insert }",
            [attrs(&base()), attrs(&[("replicas", i(3)), ("ratio", d(0.5)), ("canary", b(true))])].concat(),
        ),
        (
            "- { key: team, action: hash }",
            attrs(&[("service.name", s("claude-code")), ("os.version", s("6.18")), ("team", s(&hmac("platform")))]),
        ),
        ("- { key: missing, value: x, action: update }", attrs(&base())),
        ("- { pattern: '^(os|team)', action: delete }", attrs(&[("service.name", s("claude-code"))])),
    ];
    for (actions, want) in cases {
        let cfg: ResourceConfig = parse(&format!("hash_key: {KEY}\nattributes:\n{actions}"));
        let mut p = cfg.build().unwrap();
        // the same on all three signals
        for mut batch in [
            logs(&base(), vec![event("api_request", &[])]),
            metrics(&base(), vec![sum("m", Delta, vec![(vec![], 1.0)])]),
            traces(&base(), vec![span("claude_code.interaction", &[], vec![])]),
        ] {
            run(&mut p, &mut batch);
            assert_eq!(
                resources(&batch),
                vec![want.clone()],
                "{actions} on {}",
                batch.signal()
            );
        }
    }
}

#[test]
fn resource_is_created_only_when_something_is_added() {
    let mut batch = logs(&[], vec![event("x", &[])]);
    let Records::Logs(r) = &mut batch else {
        unreachable!()
    };
    r.resource_logs[0].resource = None;
    let mut deleting = parse::<ResourceConfig>("attributes: [{ key: a, action: delete }]")
        .build()
        .unwrap();
    let before = batch.clone();
    run(&mut deleting, &mut batch);
    assert_eq!(batch, before);
    let mut inserting =
        parse::<ResourceConfig>("attributes: [{ key: a, value: b, action: insert }]")
            .build()
            .unwrap();
    run(&mut inserting, &mut batch);
    assert_eq!(resources(&batch), vec![attrs(&[("a", s("b"))])]);
}

// -------------------------------------------------------------- attributes

fn claude_events() -> Vec<opentelemetry_proto::tonic::logs::v1::LogRecord> {
    let common = [
        ("user.id", s("u-1")),
        ("terminal.type", s("vscode")),
        ("anthropic.provider", s("firstParty")),
        ("anthropic.custom_base_url", b(false)),
    ];
    vec![
        event(
            "api_request",
            &[
                &common[..],
                &[("model", s("opus")), ("input_tokens", i(10))],
            ]
            .concat(),
        ),
        event(
            "tool_result",
            &[&common[..], &[("tool_name", s("Bash"))]].concat(),
        ),
        event("plugin_loaded", &common),
    ]
}

#[test]
fn attributes_table_on_logs() {
    let trimmed = |extra: &[(&str, AnyValue)]| {
        [attrs(&[("user.id", s(&hmac("u-1")))]), attrs(extra)].concat()
    };
    let untouched = |i: usize| claude_events()[i].attributes[1..].to_vec();
    // (config, expected attributes of [api_request, tool_result, plugin_loaded] without event.name)
    let cases: Vec<(&str, [Vec<KeyValue>; 3])> = vec![
        (
            // the example
            "actions:\n  - { key: terminal.type, action: delete }\n  - { pattern: \"^anthropic\\\\..*\", action: delete }\n  - { key: user.id, action: hash }\n\
             include: { match_type: strict, event_names: [api_request, tool_result] }",
            [
                trimmed(&[("model", s("opus")), ("input_tokens", i(10))]),
                trimmed(&[("tool_name", s("Bash"))]),
                untouched(2),
            ],
        ),
        (
            "actions: [{ key: user.id, action: delete }]\nexclude: { match_type: regexp, event_names: ['^claude_code\\.(api|plugin)'] }",
            [untouched(0), untouched(1)[1..].to_vec(), untouched(2)],
        ),
        (
            "actions: [{ key: cost_center, value: ai, action: insert }]\ninclude: { match_type: strict, attributes: [{ key: tool_name, value: Bash }] }",
            [untouched(0), [untouched(1), attrs(&[("cost_center", s("ai"))])].concat(), untouched(2)],
        ),
        (
            // include before exclude: included by the resource, then excluded by name
            "actions: [{ key: model, value: x, action: update }]\n\
             include: { match_type: strict, resource_attributes: [{ key: service.name, value: claude-code }] }\n\
             exclude: { match_type: strict, event_names: [tool_result] }",
            [
                {
                    let mut a = untouched(0);
                    a[4] = kv("model", s("x"));
                    a
                },
                untouched(1),
                untouched(2),
            ],
        ),
        (
            // names for metrics only: no log record is touched
            "actions: [{ key: user.id, action: delete }]\ninclude: { match_type: strict, metric_names: [claude_code.cost.usage] }",
            [untouched(0), untouched(1), untouched(2)],
        ),
    ];
    for (yaml, want) in cases {
        let cfg: AttributesConfig = parse(&format!("hash_key: {KEY}\n{yaml}"));
        cfg.validate().unwrap();
        let mut p = cfg.build(Signal::Logs).unwrap();
        let mut batch = logs(&[("service.name", s("claude-code"))], claude_events());
        run(&mut p, &mut batch);
        let got: Vec<Vec<KeyValue>> = log_records(&batch)
            .iter()
            .map(|r| r.attributes[1..].to_vec())
            .collect();
        assert_eq!(got, want.to_vec(), "{yaml}");
    }
}

#[test]
fn attributes_on_spans_by_name() {
    let cfg: AttributesConfig =
        parse("actions: [{ key: file_path, action: delete }]\ninclude: { match_type: regexp, span_names: ['^claude_code\\.tool$'] }");
    let mut p = cfg.build(Signal::Traces).unwrap();
    let mut batch = traces(
        &[],
        vec![
            span(
                "claude_code.tool",
                &[("file_path", s("/a")), ("tool_name", s("Write"))],
                vec![],
            ),
            span(
                "claude_code.tool.execution",
                &[("file_path", s("/a"))],
                vec![],
            ),
        ],
    );
    run(&mut p, &mut batch);
    let got: Vec<_> = spans(&batch).iter().map(|s| s.attributes.clone()).collect();
    assert_eq!(
        got,
        vec![
            attrs(&[("tool_name", s("Write"))]),
            attrs(&[("file_path", s("/a"))])
        ]
    );
}

fn token_usage(
    temporality: opentelemetry_proto::tonic::metrics::v1::AggregationTemporality,
) -> Metric {
    let p = |ty: &str, model: &str, v: f64| {
        (
            attrs(&[
                ("session.id", s("s1")),
                ("type", s(ty)),
                ("model", s(model)),
            ]),
            v,
        )
    };
    sum(
        "claude_code.token.usage",
        temporality,
        vec![
            p("input", "opus", 1.0),
            p("output", "opus", 65.0),
            p("cacheRead", "opus", 12000.0),
            p("input", "haiku", 3.0),
            p("output", "haiku", 7.0),
        ],
    )
}

#[test]
fn attributes_merge_delta_points_that_became_one_series() {
    let cfg: AttributesConfig = parse("actions: [{ key: type, action: delete }]");
    let mut p = cfg.build(Signal::Metrics).unwrap();
    let mut batch = metrics(
        &[],
        vec![
            token_usage(Delta),
            sum(
                "claude_code.cost.usage",
                Delta,
                vec![(attrs(&[("model", s("opus"))]), 0.5)],
            ),
        ],
    );
    let before = batch.item_count();
    run(&mut p, &mut batch);
    let m = metric_list(&batch);
    let series = |model: &str| attrs(&[("session.id", s("s1")), ("model", s(model))]);
    assert_eq!(
        sum_points(m[0]),
        vec![(series("opus"), 12066.0), (series("haiku"), 10.0)]
    );
    assert_eq!(
        sum_points(m[1]),
        vec![(attrs(&[("model", s("opus"))]), 0.5)]
    );
    assert_eq!(before - batch.item_count(), 3, "three points merged away");
}

#[test]
fn attributes_leave_cumulative_points_unmerged() {
    // Documented limitation: merging cumulative series is not safe in general.
    let cfg: AttributesConfig = parse("actions: [{ key: type, action: delete }]");
    let mut p = cfg.build(Signal::Metrics).unwrap();
    let mut batch = metrics(&[], vec![token_usage(Cumulative)]);
    run(&mut p, &mut batch);
    assert_eq!(sum_points(metric_list(&batch)[0]).len(), 5);
}

#[test]
fn attributes_select_points_by_metric_name_and_point_attributes() {
    let cfg: AttributesConfig = parse(
        "actions: [{ key: flagged, value: true, action: insert }]\n\
         include: { match_type: strict, metric_names: [claude_code.token.usage], attributes: [{ key: model, value: haiku }] }",
    );
    let mut p = cfg.build(Signal::Metrics).unwrap();
    let mut batch = metrics(
        &[],
        vec![
            token_usage(Delta),
            sum("other", Delta, vec![(attrs(&[("model", s("haiku"))]), 1.0)]),
        ],
    );
    run(&mut p, &mut batch);
    let flagged = |m: &Metric| {
        sum_points(m)
            .iter()
            .filter(|(a, _)| a.iter().any(|kv| kv.key == "flagged"))
            .count()
    };
    let m = metric_list(&batch);
    assert_eq!((flagged(m[0]), flagged(m[1])), (2, 0));
}

// ------------------------------------------------------------------ filter

#[test]
fn filter_table_on_logs() {
    let names = |b: &Records| -> Vec<String> {
        log_records(b)
            .iter()
            .map(|r| {
                crate::value::as_str(crate::value::get(&r.attributes, "event.name"))
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let input = || {
        logs(
            &[("service.name", s("claude-code"))],
            vec![
                event("managed_settings_resolved", &[]),
                event("plugin_loaded", &[]),
                event("user_prompt", &[("prompt", s("hi"))]),
                event("api_request", &[("model", s("opus"))]),
                event("api_request", &[("model", s("haiku"))]),
                event("plugin_loaded", &[]),
            ],
        )
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "logs: { exclude: { match_type: strict, event_names: [plugin_loaded, managed_settings_resolved] } }",
            vec!["user_prompt", "api_request", "api_request"],
        ),
        (
            "logs: { include: { match_type: regexp, event_names: ['^api_'] } }",
            vec!["api_request", "api_request"],
        ),
        (
            "logs: { include: { match_type: regexp, event_names: ['^api_'] }, exclude: { match_type: regexp, attributes: [{ key: model, value: haiku }] } }",
            vec!["api_request"],
        ),
        (
            "logs: { exclude: { match_type: strict, resource_attributes: [{ key: service.name, value: claude-code }] } }",
            vec![],
        ),
        // no section for this signal: everything passes
        ("traces: { include: { match_type: strict, span_names: [x] } }", vec![
            "managed_settings_resolved", "plugin_loaded", "user_prompt", "api_request", "api_request", "plugin_loaded",
        ]),
    ];
    for (yaml, want) in cases {
        let cfg: FilterConfig = parse(yaml);
        cfg.validate().unwrap();
        let mut p = cfg.build(Signal::Logs).unwrap();
        let mut batch = input();
        run(&mut p, &mut batch);
        assert_eq!(names(&batch), want, "{yaml}");
        if want.is_empty() {
            let Records::Logs(r) = &batch else {
                unreachable!()
            };
            assert!(r.resource_logs.is_empty(), "an emptied resource is dropped");
        }
    }
}

#[test]
fn filter_metrics_and_spans() {
    let cfg: FilterConfig = parse(
        "metrics: { exclude: { match_type: regexp, metric_names: ['claude_code\\.active_time\\..*'] } }\n\
         traces: { include: { match_type: strict, span_names: [claude_code.interaction, claude_code.llm_request] } }",
    );
    let mut p = cfg.build(Signal::Metrics).unwrap();
    let mut batch = metrics(
        &[],
        vec![
            sum("claude_code.active_time.total", Delta, vec![(vec![], 3.0)]),
            sum("claude_code.cost.usage", Delta, vec![(vec![], 0.5)]),
        ],
    );
    run(&mut p, &mut batch);
    let names: Vec<_> = metric_list(&batch).iter().map(|m| m.name.clone()).collect();
    assert_eq!(names, vec!["claude_code.cost.usage"]);

    let mut p = cfg.build(Signal::Traces).unwrap();
    let mut batch = traces(
        &[],
        [
            "claude_code.interaction",
            "claude_code.tool",
            "claude_code.llm_request",
            "claude_code.tool.execution",
        ]
        .map(|n| span(n, &[], vec![]))
        .to_vec(),
    );
    run(&mut p, &mut batch);
    let names: Vec<_> = spans(&batch).iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        vec!["claude_code.interaction", "claude_code.llm_request"]
    );
}

#[test]
fn filter_drops_data_points_by_attributes() {
    let cfg: FilterConfig = parse(
        "metrics: { exclude: { match_type: strict, attributes: [{ key: model, value: haiku }] } }",
    );
    let mut p = cfg.build(Signal::Metrics).unwrap();
    let mut batch = metrics(&[], vec![token_usage(Delta)]);
    run(&mut p, &mut batch);
    let models: Vec<_> = sum_points(metric_list(&batch)[0])
        .into_iter()
        .map(|(a, _)| {
            crate::value::as_str(crate::value::get(&a, "model"))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(models, vec!["opus"; 3]);
}

// --------------------------------------------------------------- redaction

const GITHUB: &str = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

fn redactor(yaml: &str) -> crate::redaction::RedactionProcessor {
    let cfg: RedactionConfig = parse(yaml);
    cfg.validate().unwrap_or_else(|e| panic!("{yaml}: {e}"));
    cfg.build().unwrap()
}

#[test]
fn redaction_table_on_log_records() {
    let prompt = || {
        event(
            "user_prompt",
            &[
                ("prompt_length", s("24")),
                ("prompt", s("deploy with ghp_token please")),
                ("prompt_text", s("<REDACTED>")),
                ("user.email", s("alice@example.com")),
                ("model", s("opus")),
                ("input_tokens", i(12)),
                ("cost_usd", d(0.01)),
                ("note", s(&format!("key {AWS} end"))),
                (
                    "nested",
                    kvlist(vec![
                        kv("password", s("hunter2hunter2")),
                        kv("list", arr(vec![s(GITHUB), i(1)])),
                    ]),
                ),
            ],
        )
    };
    let keep = || attrs(&[("event.name", s("user_prompt")), ("prompt_length", s("24"))]);
    let tail = |note: &str, nested_pw: AnyValue| {
        attrs(&[
            ("model", s("opus")),
            ("input_tokens", i(12)),
            ("cost_usd", d(0.01)),
            ("note", s(note)),
            (
                "nested",
                kvlist(vec![
                    kv("password", nested_pw),
                    kv("list", arr(vec![s("<redacted:github-token>"), i(1)])),
                ]),
            ),
        ])
    };
    let scanned_note = "key <redacted:aws-access-key-id> end";
    let scanned_pw = s("hunter2hunter2");
    // (config, expected attributes)
    let cases: Vec<(String, Vec<KeyValue>)> = vec![
        (
            "preset: claude_code".into(),
            [keep(), tail(scanned_note, scanned_pw.clone())].concat(),
        ),
        (
            "preset: claude_code\ncontent: mask".into(),
            [
                keep(),
                attrs(&[
                    ("prompt", s("<REDACTED>")),
                    ("prompt_text", s("<REDACTED>")),
                    ("user.email", s("<REDACTED>")),
                ]),
                tail(scanned_note, scanned_pw.clone()),
            ]
            .concat(),
        ),
        (
            format!("preset: claude_code\ncontent: hash\nhash_key: {KEY}"),
            [
                keep(),
                attrs(&[
                    ("prompt", s(&hmac("deploy with ghp_token please"))),
                    // Claude Code's own marker is kept: a digest of it would join unrelated prompts
                    ("prompt_text", s("<REDACTED>")),
                    ("user.email", s(&hmac("alice@example.com"))),
                ]),
                tail(scanned_note, scanned_pw.clone()),
            ]
            .concat(),
        ),
        (
            // blocked keys apply in nested kvlists too; numbers under them are kept
            "preset: claude_code\nblocked_keys: ['(?i)(password|token)']".into(),
            [
                keep(),
                // input_tokens is an int: kept
                tail(scanned_note, s("<redacted:blocked-key>")),
            ]
            .concat(),
        ),
        (
            // secrets only: content keys stay, secrets inside them are masked
            "secrets: builtin\ndisabled_rules: [aws-access-key-id]".into(),
            [
                keep(),
                attrs(&[
                    ("prompt", s("deploy with ghp_token please")),
                    ("prompt_text", s("<REDACTED>")),
                    ("user.email", s("<redacted:email>")),
                ]),
                tail(&format!("key {AWS} end"), scanned_pw.clone()),
            ]
            .concat(),
        ),
        (
            "allowed_keys: [event.name, model, input_tokens, cost_usd, nested]".into(),
            [
                attrs(&[("event.name", s("user_prompt"))]),
                tail(scanned_note, scanned_pw.clone())[..3].to_vec(),
                tail(scanned_note, scanned_pw.clone())[4..].to_vec(),
            ]
            .concat(),
        ),
        (
            "content_keys: [note]\ncontent: mask\nsecrets: none".into(),
            {
                let mut a = prompt().attributes;
                a[8] = kv("note", s("<REDACTED>"));
                a
            },
        ),
    ];
    for (yaml, want) in cases {
        let mut p = redactor(&yaml);
        let mut batch = logs(&[], vec![prompt()]);
        run(&mut p, &mut batch);
        assert_eq!(log_records(&batch)[0].attributes, want, "{yaml}");
    }
}

#[test]
fn redaction_summary() {
    let record = || {
        event(
            "api_error",
            &[
                (
                    "error",
                    s("401 for sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz"),
                ),
                ("detail", s(&format!("{GITHUB} and {AWS}"))),
            ],
        )
    };
    let run_with = |summary: &str| {
        let mut p = redactor(&format!("preset: claude_code\nsummary: {summary}"));
        let mut batch = logs(
            &[],
            vec![record(), event("api_request", &[("model", s("opus"))])],
        );
        run(&mut p, &mut batch);
        log_records(&batch)
            .iter()
            .map(|r| r.attributes.clone())
            .collect::<Vec<_>>()
    };
    let base = attrs(&[
        ("event.name", s("api_error")),
        (
            "detail",
            s("<redacted:github-token> and <redacted:aws-access-key-id>"),
        ),
    ]);
    let clean = attrs(&[("event.name", s("api_request")), ("model", s("opus"))]);
    assert_eq!(run_with("silent"), vec![base.clone(), clean.clone()]);
    assert_eq!(
        run_with("info"),
        vec![
            [
                base.clone(),
                attrs(&[
                    ("redaction.redacted.count", i(1)),
                    ("redaction.masked.count", i(2))
                ])
            ]
            .concat(),
            clean.clone()
        ]
    );
    assert_eq!(
        run_with("debug"),
        vec![
            [
                base,
                attrs(&[
                    ("redaction.redacted.count", i(1)),
                    ("redaction.masked.count", i(2)),
                    ("redaction.redacted.keys", s("error")),
                    (
                        "redaction.masked.kinds",
                        s("github-token,aws-access-key-id")
                    ),
                ])
            ]
            .concat(),
            clean
        ]
    );
}

#[test]
fn redaction_covers_spans_events_links_bodies_and_resources() {
    let mut p = redactor("preset: claude_code\nsummary: info");
    let mut tool = span(
        "claude_code.tool",
        &[
            ("tool_name", s("Bash")),
            (
                "full_command",
                s("curl -H 'Authorization: Bearer abcdef0123456789abcdef'"),
            ),
            ("duration_ms", i(5)),
        ],
        vec![
            span_event(
                "tool.output",
                &[
                    ("bash_command", s("cat .env")),
                    ("output", s("DB_PASSWORD=hunter2hunter2")),
                    ("exit_code", i(0)),
                ],
            ),
            span_event(
                "gen_ai.request.attempt",
                &[("attempt", i(1)), ("note", s(AWS))],
            ),
        ],
    );
    tool.status = Some(Status {
        message: format!("failed with {GITHUB}"),
        code: 2,
    });
    tool.links.push(Link {
        attributes: attrs(&[("why", arr(vec![s(AWS)]))]),
        ..Default::default()
    });
    let mut batch = traces(
        &[("service.name", s("claude-code")), ("ci.token", s(GITHUB))],
        vec![tool],
    );
    run(&mut p, &mut batch);
    assert_eq!(
        resources(&batch),
        vec![attrs(&[
            ("service.name", s("claude-code")),
            ("ci.token", s("<redacted:github-token>"))
        ])]
    );
    let sp = spans(&batch)[0];
    assert_eq!(
        sp.attributes,
        attrs(&[
            ("tool_name", s("Bash")),
            ("duration_ms", i(5)),
            ("redaction.redacted.count", i(4)),
            ("redaction.masked.count", i(3))
        ])
    );
    assert_eq!(sp.events[0].name, "tool.output");
    assert_eq!(
        sp.events[0].attributes,
        vec![],
        "every tool.output attribute is content"
    );
    assert_eq!(
        sp.events[1].attributes,
        attrs(&[
            ("attempt", i(1)),
            ("note", s("<redacted:aws-access-key-id>"))
        ])
    );
    assert_eq!(
        sp.status.as_ref().unwrap().message,
        "failed with <redacted:github-token>"
    );
    assert_eq!(
        sp.links[0].attributes,
        attrs(&[("why", arr(vec![s("<redacted:aws-access-key-id>")]))])
    );

    // log bodies, as strings and as structures
    let mut batch = logs(
        &[],
        vec![
            opentelemetry_proto::tonic::logs::v1::LogRecord {
                body: Some(s(&format!("token {GITHUB}"))),
                ..Default::default()
            },
            opentelemetry_proto::tonic::logs::v1::LogRecord {
                body: Some(kvlist(vec![
                    kv("prompt", s("secret plan")),
                    kv("msg", arr(vec![s(AWS)])),
                ])),
                ..Default::default()
            },
        ],
    );
    run(&mut p, &mut batch);
    let r = log_records(&batch);
    assert_eq!(r[0].body, Some(s("token <redacted:github-token>")));
    assert_eq!(
        r[1].body,
        Some(kvlist(vec![kv(
            "msg",
            arr(vec![s("<redacted:aws-access-key-id>")])
        )]))
    );
}

#[test]
fn redaction_keeps_delta_sums_correct() {
    // Masking user.email collapses two users' series into one: they are merged.
    let mut p = redactor("preset: claude_code\ncontent: mask");
    let point = |email: &str, v: f64| (attrs(&[("user.email", s(email)), ("model", s("opus"))]), v);
    let mut batch = metrics(
        &[],
        vec![sum(
            "claude_code.cost.usage",
            Delta,
            vec![point("a@x.io", 1.0), point("b@x.io", 2.0)],
        )],
    );
    run(&mut p, &mut batch);
    assert_eq!(
        sum_points(metric_list(&batch)[0]),
        vec![(
            attrs(&[("user.email", s("<REDACTED>")), ("model", s("opus"))]),
            3.0
        )]
    );
    // Hashing keeps them apart, and adds no summary to data points.
    let mut p = redactor(&format!(
        "preset: claude_code\ncontent: hash\nhash_key: {KEY}\nsummary: debug"
    ));
    let mut batch = metrics(
        &[],
        vec![sum(
            "claude_code.cost.usage",
            Delta,
            vec![point("a@x.io", 1.0), point("b@x.io", 2.0)],
        )],
    );
    run(&mut p, &mut batch);
    let pts = sum_points(metric_list(&batch)[0]);
    assert_eq!(pts.len(), 2);
    assert_eq!(
        pts[0].0,
        attrs(&[("user.email", s(&hmac("a@x.io"))), ("model", s("opus"))])
    );
}

#[test]
fn redaction_leaves_clean_records_byte_identical() {
    let mut p = redactor(&format!(
        "preset: claude_code\ncontent: hash\nhash_key: {KEY}\nblocked_values: ['acme-[0-9]+']\nblocked_keys: ['(?i)password']\nsummary: debug"
    ));
    let clean = || {
        logs(
            &[("service.name", s("claude-code"))],
            vec![event(
                "api_request",
                &[
                    ("model", s("claude-opus-5-5")),
                    ("input_tokens", i(1)),
                    ("cost_usd", d(0.0077)),
                    ("request_id", s("req_fake000003e08e8590")),
                ],
            )],
        )
    };
    let mut batch = clean();
    run(&mut p, &mut batch);
    assert_eq!(batch, clean());
}

#[test]
fn redaction_counts_what_it_masked_by_reason() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let mut p = redactor(
        "preset: claude_code\nblocked_keys: [\"(?i)password\"]\nallowed_keys: [event.name, error, detail, db_password, prompt, host.name]",
    )
    .with_id("redaction/pii");
    let mut batch = logs(
        // Resource attributes count too: `team` is not allowed, `host.name` holds a secret.
        &[("team", s("x")), ("host.name", s(AWS))],
        vec![
            event(
                "user_prompt",
                &[
                    ("prompt", s("private text")),
                    ("db_password", s("hunter2")),
                    ("detail", s(&format!("{GITHUB} {AWS}"))),
                    ("cwd", s("/home/me")),
                ],
            ),
            event("api_error", &[("error", s("401"))]),
        ],
    );
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || run(&mut p, &mut batch));

    let mut counted: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            assert_eq!(key.name(), "ccpipe_redaction_masked_total");
            let label = |n: &str| {
                key.labels()
                    .find(|l| l.key() == n)
                    .map(|l| l.value().to_owned())
            };
            assert_eq!(label("processor").as_deref(), Some("redaction/pii"));
            let DebugValue::Counter(n) = value else {
                panic!("{value:?}")
            };
            (label("reason").unwrap(), n)
        })
        .collect();
    counted.sort();
    // content: prompt and error; blocked_key: db_password; not_allowed: team,
    // cwd; secret: two in detail, one in host.name.
    assert_eq!(
        counted,
        vec![
            ("blocked_key".to_owned(), 1),
            ("content".to_owned(), 2),
            ("not_allowed".to_owned(), 2),
            ("secret".to_owned(), 3),
        ]
    );
}
