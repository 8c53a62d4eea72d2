//! Table tests over `testdata/otlp/*.yaml`: each file is loaded the way the
//! service loads a config file, then validated by the registry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ccpipe_pipeline::config::{load_str, ComponentConfig};
use ccpipe_pipeline::limits::Limits;

use crate::otlp::config::{from_component, Endpoint, Host, Settings, DEFAULT_LIMITS};
use crate::otlp::grpc::GrpcSettings;
use crate::otlp::http::HttpSettings;
use crate::otlp::security::{BearerToken, TlsFiles};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/otlp");

enum Expect {
    Ok(Box<Settings>),
    Err(&'static str),
}

fn ip(host: IpAddr, port: u16) -> Endpoint {
    Endpoint {
        host: Host::Ip(host),
        port,
    }
}

fn default_grpc() -> (Endpoint, GrpcSettings) {
    let settings = GrpcSettings {
        max_recv_msg_size: 4 << 20,
        max_concurrent_streams: Some(100),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
    };
    (ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 4317), settings)
}

fn default_http() -> (Endpoint, HttpSettings) {
    (
        ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 4318),
        super::http_settings(20 << 20),
    )
}

fn table() -> Vec<(&'static str, Expect)> {
    use Expect::*;
    vec![
        (
            "defaults.yaml",
            Ok(Box::new(Settings {
                grpc: Some(default_grpc()),
                http: Some(default_http()),
                backpressure_wait: Duration::from_millis(500),
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: DEFAULT_LIMITS,
            })),
        ),
        (
            "lifecycle.yaml",
            Ok(Box::new(Settings {
                grpc: Some((ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 0), default_grpc().1)),
                http: Some((ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 0), default_http().1)),
                backpressure_wait: Duration::from_millis(500),
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: DEFAULT_LIMITS,
            })),
        ),
        (
            "full.yaml",
            Ok(Box::new(Settings {
                grpc: Some((
                    Endpoint {
                        host: Host::Name("localhost".to_owned()),
                        port: 14317,
                    },
                    GrpcSettings {
                        max_recv_msg_size: 16 << 20,
                        max_concurrent_streams: Some(32),
                        read_timeout: Duration::from_secs(10),
                        idle_timeout: Duration::from_secs(120),
                    },
                )),
                http: Some((
                    ip(IpAddr::V6(Ipv6Addr::LOCALHOST), 14318),
                    HttpSettings {
                        max_request_body_size: 1 << 20,
                        logs_path: "/otlp/logs".to_owned(),
                        metrics_path: "/otlp/metrics".to_owned(),
                        traces_path: "/otlp/traces".to_owned(),
                        read_header_timeout: Duration::from_secs(5),
                        read_timeout: Duration::from_secs(15),
                        idle_timeout: Duration::from_secs(90),
                    },
                )),
                backpressure_wait: Duration::from_millis(250),
                max_connections: 64,
                auth: Some(BearerToken::new("s3cr3t-t0ken")),
                tls: Some(TlsFiles {
                    cert_file: "/etc/ccpipe/cert.pem".into(),
                    key_file: "/etc/ccpipe/key.pem".into(),
                    client_ca_file: Some("/etc/ccpipe/ca.pem".into()),
                }),
                limits: Limits {
                    max_attribute_depth: 4,
                    max_attributes: 32,
                },
            })),
        ),
        (
            "only_http.yaml",
            Ok(Box::new(Settings {
                grpc: None,
                http: Some((ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), super::http_settings(20 << 20))),
                backpressure_wait: Duration::from_millis(500),
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: DEFAULT_LIMITS,
            })),
        ),
        (
            "unlimited_streams.yaml",
            Ok(Box::new(Settings {
                grpc: Some((
                    ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 4317),
                    GrpcSettings {
                        max_recv_msg_size: 4 << 20,
                        max_concurrent_streams: None,
                        read_timeout: Duration::from_secs(30),
                        idle_timeout: Duration::from_secs(300),
                    },
                )),
                http: None,
                backpressure_wait: Duration::from_millis(500),
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: DEFAULT_LIMITS,
            })),
        ),
        (
            "limits_partial.yaml",
            Ok(Box::new(Settings {
                grpc: None,
                http: Some(default_http()),
                backpressure_wait: Duration::from_millis(500),
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: Limits {
                    max_attribute_depth: 16,
                    max_attributes: 1000,
                },
            })),
        ),
        (
            "limits_max_depth.yaml",
            Ok(Box::new(Settings {
                grpc: Some(default_grpc()),
                http: None,
                backpressure_wait: Duration::from_millis(500),
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: Limits {
                    max_attribute_depth: 24,
                    max_attributes: 256,
                },
            })),
        ),
        (
            "limits_zero_depth.yaml",
            Err("limits_zero_depth.yaml:5: receivers.otlp.limits.max_attribute_depth: must be between 1 and 24, got 0"),
        ),
        (
            "limits_too_deep.yaml",
            Err("limits_too_deep.yaml:5: receivers.otlp.limits.max_attribute_depth: must be between 1 and 24, got 25"),
        ),
        (
            "limits_zero_attributes.yaml",
            Err("limits_zero_attributes.yaml:4: receivers.otlp.limits.max_attributes: must be greater than 0"),
        ),
        (
            "limits_typo.yaml",
            Err("limits_typo.yaml:5: receivers.otlp.limits.max_attribute_count: unknown field `max_attribute_count`, expected `max_attribute_depth` or `max_attributes`"),
        ),
        (
            "limits_negative.yaml",
            Err("limits_negative.yaml:5: receivers.otlp.limits.max_attributes: invalid value: integer `-1`, expected usize"),
        ),
        (
            "no_protocols.yaml",
            Err("no_protocols.yaml:3: receivers.otlp.protocols: enable at least one protocol: grpc or http"),
        ),
        (
            "empty.yaml",
            Err("empty.yaml:2: receivers.otlp.protocols: enable at least one protocol: grpc or http"),
        ),
        (
            "endpoint_no_port.yaml",
            Err("endpoint_no_port.yaml:5: receivers.otlp.protocols.grpc.endpoint: invalid endpoint \"127.0.0.1\": missing port; expected host:port, e.g. 127.0.0.1:4317"),
        ),
        (
            "endpoint_bare_ipv6.yaml",
            Err("endpoint_bare_ipv6.yaml:5: receivers.otlp.protocols.grpc.endpoint: invalid endpoint \"::1:4317\": write IPv6 addresses in brackets, as in [::1]:4317; expected host:port, e.g. 127.0.0.1:4317"),
        ),
        (
            "endpoint_scheme.yaml",
            Err("endpoint_scheme.yaml:5: receivers.otlp.protocols.http.endpoint: invalid endpoint \"http://127.0.0.1:4318\": no scheme is needed; expected host:port, e.g. 127.0.0.1:4317"),
        ),
        (
            "endpoint_bad_port.yaml",
            Err("endpoint_bad_port.yaml:5: receivers.otlp.protocols.http.endpoint: invalid endpoint \"127.0.0.1:70000\": the port must be a number from 0 to 65535; expected host:port, e.g. 127.0.0.1:4317"),
        ),
        (
            "same_endpoint.yaml",
            Err("same_endpoint.yaml:7: receivers.otlp.protocols.http.endpoint: 127.0.0.1:4317 is also the grpc endpoint; use another port"),
        ),
        (
            "path_no_slash.yaml",
            Err("path_no_slash.yaml:5: receivers.otlp.protocols.http.logs_url_path: \"v1/logs\" must start with '/'"),
        ),
        (
            "path_duplicate.yaml",
            Err("path_duplicate.yaml:5: receivers.otlp.protocols.http.traces_url_path: \"/v1/logs\" is already used by logs_url_path"),
        ),
        (
            "zero_read_timeout.yaml",
            Err("zero_read_timeout.yaml:5: receivers.otlp.protocols.http.read_header_timeout: must be greater than 0"),
        ),
        (
            "zero_idle_timeout.yaml",
            Err("zero_idle_timeout.yaml:5: receivers.otlp.protocols.grpc.idle_timeout: must be greater than 0"),
        ),
        (
            "zero_body_size.yaml",
            Err("zero_body_size.yaml:5: receivers.otlp.protocols.http.max_request_body_size: must be greater than 0"),
        ),
        (
            "zero_msg_size.yaml",
            Err("zero_msg_size.yaml:5: receivers.otlp.protocols.grpc.max_recv_msg_size_mib: must be between 1 and 4096, got 0"),
        ),
        (
            "typo_grpc_key.yaml",
            Err("typo_grpc_key.yaml:5: receivers.otlp.protocols.grpc.endpont: unknown field `endpont`, expected one of `endpoint`, `max_recv_msg_size_mib`, `max_concurrent_streams`, `read_timeout`, `idle_timeout`"),
        ),
        (
            "typo_top_key.yaml",
            Err("typo_top_key.yaml:5: receivers.otlp.backpresure_wait: unknown field `backpresure_wait`, expected one of `protocols`, `backpressure_wait`, `max_connections`, `auth`, `tls`, `limits`"),
        ),
        (
            "auth_empty_token.yaml",
            Err("auth_empty_token.yaml:5: receivers.otlp.auth.bearer_token: must not be empty (is the environment variable set?)"),
        ),
        (
            "auth_token_spaces.yaml",
            Err("auth_token_spaces.yaml:5: receivers.otlp.auth.bearer_token: must be printable ASCII without spaces"),
        ),
        (
            "auth_typo.yaml",
            Err("auth_typo.yaml:5: receivers.otlp.auth.token: unknown field `token`, expected `bearer_token`"),
        ),
        (
            "tls_no_key.yaml",
            Err("tls_no_key.yaml:4: receivers.otlp.tls: missing field `key_file`"),
        ),
        (
            "tls_empty_ca.yaml",
            Err("tls_empty_ca.yaml:7: receivers.otlp.tls.client_ca_file: must not be empty"),
        ),
        (
            "zero_connections.yaml",
            Err("zero_connections.yaml:4: receivers.otlp.max_connections: must be greater than 0"),
        ),
        (
            "backpressure_wait_too_long.yaml",
            Err("backpressure_wait_too_long.yaml:5: receivers.otlp.backpressure_wait: must be at most 60s"),
        ),
        (
            "backpressure_wait_zero.yaml",
            Ok(Box::new(Settings {
                grpc: Some(default_grpc()),
                http: None,
                backpressure_wait: Duration::ZERO,
                max_connections: 1024,
                auth: None,
                tls: None,
                limits: DEFAULT_LIMITS,
            })),
        ),
        (
            "bad_duration.yaml",
            Err("bad_duration.yaml:5: receivers.otlp.backpressure_wait: invalid duration 100: add a unit, e.g. \"100s\" or \"100ms\""),
        ),
        (
            "unknown_type.yaml",
            Err("unknown_type.yaml:2: receivers.zipkin: unknown receiver type \"zipkin\"; known types: kafka, otlp"),
        ),
    ]
}

/// The one receiver section of a testdata file. The files hold only the
/// receiver; a pipeline that uses it is appended so the config loads.
fn receiver(file: &str) -> ComponentConfig {
    let mut text = std::fs::read_to_string(format!("{TESTDATA}/{file}")).unwrap();
    text.push_str(&format!(
        "exporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [{}]\n      exporters: [debug]\n",
        receiver_id(&text)
    ));
    let config = load_str(file, &text).unwrap_or_else(|e| panic!("{file} does not load: {e}"));
    assert_eq!(config.receivers.len(), 1, "{file} has one receiver");
    config.receivers.into_values().next().unwrap()
}

/// The id of the one receiver in a testdata file.
pub(super) fn receiver_id(yaml: &str) -> String {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let receivers = doc["receivers"].as_mapping().expect("a receivers section");
    receivers
        .keys()
        .next()
        .and_then(|k| k.as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn testdata_table() {
    let table = table();
    let mut failures = Vec::new();
    for (file, expect) in &table {
        let cfg = receiver(file);
        let validated = ccpipe_pipeline::factory::lookup(crate::FACTORIES, &cfg)
            .and_then(|f| f.validate(&cfg))
            .map_err(|e| e.to_string());
        match expect {
            Expect::Ok(settings) => {
                assert_eq!(validated, Ok(()), "{file}");
                let resolved = from_component(&cfg).unwrap();
                assert_eq!(&resolved, settings.as_ref(), "{file}");
            }
            Expect::Err(message) => match validated {
                Err(actual) if actual == *message => {}
                other => failures.push(format!("{file}: expected {message:?}, got {other:?}")),
            },
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_testdata_file_is_in_the_table() {
    let listed: Vec<&str> = table().iter().map(|(f, _)| *f).collect();
    for entry in std::fs::read_dir(TESTDATA).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            listed.contains(&name.as_str()),
            "{name} is not in the table"
        );
    }
}

#[test]
fn endpoints_parse() {
    let ok = [
        ("127.0.0.1:4317", ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 4317)),
        ("0.0.0.0:0", ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)),
        ("[::1]:4318", ip(IpAddr::V6(Ipv6Addr::LOCALHOST), 4318)),
        ("[::]:4318", ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 4318)),
        (
            "LocalHost:1",
            Endpoint {
                host: Host::Name("localhost".to_owned()),
                port: 1,
            },
        ),
        (
            "otel-collector.internal:4317",
            Endpoint {
                host: Host::Name("otel-collector.internal".to_owned()),
                port: 4317,
            },
        ),
    ];
    for (text, expected) in ok {
        assert_eq!(text.parse::<Endpoint>().as_ref(), Ok(&expected), "{text}");
        assert_eq!(
            expected.to_string().parse::<Endpoint>(),
            Ok(expected.clone()),
            "round trip of {text}"
        );
    }
    for bad in [
        "",
        ":4317",
        "localhost",
        "localhost:",
        "localhost:-1",
        "1.2.3:4317",
        "[::1]",
        "[::1]4317",
        "[nope]:1",
        "a b:1",
        "-x:1",
        "host_name:1",
    ] {
        assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} should not parse");
    }
}
