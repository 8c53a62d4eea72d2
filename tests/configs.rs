//! Every shipped config under configs/ parses and validates.

use std::path::Path;

#[test]
fn shipped_configs_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let cfg = ccpipe_pipeline::config::load(std::slice::from_ref(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ccpipe::service::validate(&cfg)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.join("\n")));
        assert!(!cfg.service.pipelines.is_empty(), "{}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the shipped configs, found {checked}"
    );
}

#[test]
fn builtin_default_validates() {
    let cfg = ccpipe_pipeline::config::load(&[]).expect("default loads");
    ccpipe::service::validate(&cfg).expect("default validates");
    assert_eq!(cfg.service.pipelines.len(), 3);
}

/// Every secret field (passwords, API keys, bearer tokens, header values,
/// HMAC keys) is a `Secret`: neither `Debug` of the parsed config and of the
/// validated settings, nor `print-config`, shows its value.
#[test]
fn secrets_never_show_in_debug_or_print_config() {
    const MARK: &str = "Sekr1t-Value-0123456789";
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols: {{ http: {{ endpoint: 127.0.0.1:0 }} }}
    auth: {{ bearer_token: {MARK} }}
processors:
  redaction:
    content: hash
    content_keys: [prompt]
    hash_key: {MARK}
  attributes:
    hash_key: {MARK}
    actions: [{{ key: user.email, action: hash }}]
  resource:
    hash_key: {MARK}
    attributes: [{{ key: user.email, action: hash }}]
exporters:
  clickhouse:
    endpoint: http://127.0.0.1:8123
    password: {MARK}
  datadog:
    api: {{ key: {MARK} }}
  otlp:
    endpoint: 127.0.0.1:4317
    headers: {{ authorization: "Bearer {MARK}", x-tenant: acme }}
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [redaction, attributes, resource]
      exporters: [clickhouse, datadog, otlp]
"#
    );
    let cfg = ccpipe_pipeline::config::load_str("secrets.yaml", &yaml).expect("loads");
    ccpipe::service::validate(&cfg).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    let component = |section: &std::collections::BTreeMap<_, _>, name: &str| {
        section
            .iter()
            .find(|(id, _): &(&ccpipe_pipeline::ComponentId, _)| id.to_string() == name)
            .map(|(_, c): (_, &ccpipe_pipeline::config::ComponentConfig)| c.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // The loaded config itself keeps the raw YAML of each component; its
    // Debug (a `{cfg:?}` in a log line or a panic) must mask it too.
    let mut shown = vec![
        cfg.to_masked_yaml(),
        format!("{cfg:?}"),
        format!("{cfg:#?}"),
    ];
    let receiver: ccpipe_receivers::otlp::config::OtlpConfig =
        component(&cfg.receivers, "otlp").parse().unwrap();
    shown.push(format!("{receiver:?} {:?}", receiver.settings().unwrap()));
    let redaction: ccpipe_processors::redaction::RedactionConfig =
        component(&cfg.processors, "redaction").parse().unwrap();
    let attributes: ccpipe_processors::attributes::AttributesConfig =
        component(&cfg.processors, "attributes").parse().unwrap();
    let resource: ccpipe_processors::resource::ResourceConfig =
        component(&cfg.processors, "resource").parse().unwrap();
    shown.push(format!("{redaction:?} {attributes:?} {resource:?}"));
    let clickhouse: ccpipe_exporters::clickhouse::config::ClickhouseConfig =
        component(&cfg.exporters, "clickhouse").parse().unwrap();
    shown.push(format!(
        "{clickhouse:?} {:?}",
        clickhouse.settings().unwrap()
    ));
    let datadog: ccpipe_exporters::datadog::config::DatadogConfig =
        component(&cfg.exporters, "datadog").parse().unwrap();
    shown.push(format!("{datadog:?} {:?}", datadog.settings().unwrap()));
    let otlp: ccpipe_exporters::otlp::config::OtlpConfig =
        component(&cfg.exporters, "otlp").parse().unwrap();
    let protocol = ccpipe_exporters::otlp_client::Protocol::Grpc;
    shown.push(format!("{otlp:?} {:?}", otlp.settings(protocol).unwrap()));
    for text in &shown {
        assert!(!text.contains(MARK), "a secret is shown:\n{text}");
    }
    // The masking is not vacuous: the configs were read with the secret in
    // them, and the non-secret header is still shown.
    assert!(format!("{otlp:?}").contains("x-tenant"));
    assert!(shown[0].contains("[REDACTED]"));
    assert!(shown[1].contains("[REDACTED]") && shown[1].contains("x-tenant"));
}
