//! `resourcedetection`: detectors over a made-up environment, the merge and
//! override rules on all three signals, and the real host.

use std::collections::HashMap;

use ccpipe_pipeline::factory::ComponentSettings;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality::Delta;

use super::*;
use crate::resourcedetection::{
    parse_resource_attributes, Environment, ResourceDetectionConfig, ThisProcess,
};

struct Fake {
    vars: HashMap<&'static str, &'static str>,
    node: &'static str,
}

impl Environment for Fake {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.to_string())
    }

    fn node_name(&self) -> String {
        self.node.to_owned()
    }
}

fn fake(resource_attributes: Option<&'static str>) -> Fake {
    Fake {
        vars: resource_attributes
            .map(|v| ("OTEL_RESOURCE_ATTRIBUTES", v))
            .into_iter()
            .collect(),
        node: "laptop-7",
    }
}

fn os() -> &'static str {
    if cfg!(target_os = "macos") {
        "darwin"
    } else {
        std::env::consts::OS
    }
}

#[test]
fn detection_table() {
    // What Claude Code sends: its own os.type and a team from its environment.
    let client = || {
        vec![
            ("service.name", s("claude-code")),
            ("os.type", s("client-os")),
            ("team", s("web")),
        ]
    };
    // (config, ccpipe's OTEL_RESOURCE_ATTRIBUTES, expected resource)
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<(&'static str, AnyValue)>,
    );
    let cases: Vec<Case> = vec![
        (
            "detectors: [system]",
            None,
            vec![
                ("service.name", s("claude-code")),
                ("os.type", s(os())),
                ("team", s("web")),
                ("host.name", s("laptop-7")),
            ],
        ),
        (
            "detectors: [system]\noverride: false",
            None,
            vec![
                ("service.name", s("claude-code")),
                ("os.type", s("client-os")),
                ("team", s("web")),
                ("host.name", s("laptop-7")),
            ],
        ),
        (
            // the first detector wins a key both set
            "detectors: [env, system]",
            Some("host.name=gateway-1, deployment.environment.name=prod%20eu ,team=platform"),
            vec![
                ("service.name", s("claude-code")),
                ("os.type", s(os())),
                ("team", s("platform")),
                ("host.name", s("gateway-1")),
                ("deployment.environment.name", s("prod eu")),
            ],
        ),
        (
            "detectors: [system, env]\noverride: false",
            Some("host.name=gateway-1,team=platform"),
            vec![
                ("service.name", s("claude-code")),
                ("os.type", s("client-os")),
                ("team", s("web")),
                ("host.name", s("laptop-7")),
            ],
        ),
        // no variable: env detects nothing, the batch is unchanged
        ("detectors: [env]", None, client()),
        ("detectors: [env]", Some(" , "), client()),
    ];
    for (yaml, var, want) in cases {
        let cfg: ResourceDetectionConfig = parse(yaml);
        cfg.validate().unwrap();
        let mut p = cfg.build_in(&fake(var)).unwrap();
        for mut batch in [
            logs(&client(), vec![event("api_request", &[])]),
            metrics(&client(), vec![sum("m", Delta, vec![(vec![], 1.0)])]),
            traces(
                &client(),
                vec![span("claude_code.interaction", &[], vec![])],
            ),
        ] {
            run(&mut p, &mut batch);
            assert_eq!(
                resources(&batch),
                vec![attrs(&want)],
                "{yaml} with {var:?} on {}",
                batch.signal()
            );
        }
    }
}

#[test]
fn a_batch_without_a_resource_gets_one() {
    let cfg: ResourceDetectionConfig = parse("detectors: [system]");
    let mut p = cfg.build_in(&fake(None)).unwrap();
    let mut batch = logs(&[], vec![event("x", &[])]);
    let Records::Logs(r) = &mut batch else {
        unreachable!()
    };
    r.resource_logs[0].resource = None;
    run(&mut p, &mut batch);
    assert_eq!(
        resources(&batch),
        vec![attrs(&[("host.name", s("laptop-7")), ("os.type", s(os()))])]
    );
}

#[test]
fn resource_attributes_variable_table() {
    let ok: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("", vec![]),
        ("a=1", vec![("a", "1")]),
        (
            " a = 1 ,b=x%2Cy,, c=",
            vec![("a", "1"), ("b", "x,y"), ("c", "")],
        ),
        ("k=%E2%9C%93", vec![("k", "✓")]),
        ("k=a=b", vec![("k", "a=b")]),
    ];
    for (text, want) in ok {
        let got = parse_resource_attributes(text).unwrap();
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(got, want, "{text:?}");
    }
    let bad = [
        ("team", "\"team\" has no `=`"),
        ("=x", "\"=x\" has an empty key"),
        (
            "a=%zz",
            "the value of \"a\" is not valid percent-encoded UTF-8",
        ),
        (
            "a=%E2%9C",
            "the value of \"a\" is not valid percent-encoded UTF-8",
        ),
        (
            "a=50%",
            "the value of \"a\" is not valid percent-encoded UTF-8",
        ),
    ];
    for (text, why) in bad {
        assert_eq!(
            parse_resource_attributes(text).unwrap_err(),
            why,
            "{text:?}"
        );
    }
}

#[test]
fn a_malformed_variable_stops_the_build_naming_it() {
    let cfg: ResourceDetectionConfig = parse("detectors: [env]");
    let err = cfg
        .build_in(&fake(Some("team=web,oops")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "detectors: env: OTEL_RESOURCE_ATTRIBUTES is not `key=value,…`: \"oops\" has no `=`"
    );
}

#[test]
fn system_detects_this_hosts_name() {
    let cfg: ResourceDetectionConfig = parse("detectors: [system]");
    let found = cfg.detect(&ThisProcess).unwrap();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        found,
        vec![
            ("host.name".to_owned(), kernel.trim().to_owned()),
            ("os.type".to_owned(), os().to_owned()),
        ]
    );
}
