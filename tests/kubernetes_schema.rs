//! The Kubernetes manifests under deploy/kubernetes checked against the
//! Kubernetes API schemas by `kubernetes-validate --strict` (installed from
//! the registry into a venv under target/ on first run; the schemas ship
//! inside the package, so checking needs no network). Strict: a property the
//! schema does not have is an error, so a typo'd field name fails, which a
//! YAML parse or a lenient deserializer would let through.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde::Deserialize;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The schema version checked against (the tool's newest).
const KUBERNETES_VERSION: &str = "1.37.0";

/// Installed once per run: the tests here run in parallel.
fn checker() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(install)
}

fn install() -> PathBuf {
    let venv = common::venv::install(
        "kubernetes-validate",
        "tests/python/kubernetes-validate.txt",
    );
    venv.join("bin/kubernetes-validate")
}

fn check(files: &[PathBuf]) -> Output {
    Command::new(checker())
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .args(files)
        .output()
        .unwrap()
}

fn manifests() -> Vec<PathBuf> {
    let dir = Path::new(ROOT).join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn deploy_kubernetes_manifests_match_the_schemas() {
    let files = manifests();
    assert!(files.len() >= 2, "{files:?}");
    let out = check(&files);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // Every resource was checked, not skipped as unknown.
    for resource in [
        "configmap/ccpipe-config",
        "deployment/claude-code-runner",
        "serviceaccount/datadog-agent",
        "daemonset/datadog-agent",
        "configmap/ccpipe-gateway-config",
        "deployment/ccpipe-gateway",
        "horizontalpodautoscaler/ccpipe-gateway",
        "poddisruptionbudget/ccpipe-gateway",
        "service/ccpipe-gateway",
        "configmap/ccpipe-edge-config",
        "daemonset/ccpipe-edge",
    ] {
        let passed = format!("passed for resource {resource} against version 1.37");
        assert!(text.contains(&passed), "{resource} not checked:\n{text}");
    }
}

/// The check can fail: each edit of the sidecar manifest is refused, with
/// the path of the bad field.
#[test]
fn a_typo_in_a_manifest_is_refused() {
    let original =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/kubernetes/ccpipe-sidecar.yaml"))
            .unwrap();
    let cases = [
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesytem: true",
            "'readOnlyRootFilesytem' was unexpected",
        ),
        (
            "terminationGracePeriodSeconds: 30",
            "terminationGracePeriodSeconds: thirty",
            "terminationGracePeriodSeconds: 'thirty' is not of type 'integer'",
        ),
        (
            "livenessProbe:",
            "livenesProbe:",
            "'livenesProbe' was unexpected",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("ccpipe-test-k8s-typo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to, error) in cases {
        assert!(original.contains(from), "{from}");
        let path = dir.join("ccpipe-sidecar.yaml");
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let out = check(&[path]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{to}: accepted:\n{text}");
        assert!(text.contains(error), "{to}: {text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The kafka receiver and exporter are only in the `-kafka` image
/// (docs/deploy.md): a manifest whose ccpipe config uses one runs that
/// image, and the others the default one.
#[test]
fn manifests_with_a_kafka_config_run_the_kafka_image() {
    let mut kafka_manifests = 0;
    for file in manifests() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut uses_kafka = false;
        let mut images = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let doc = serde_yaml::Value::deserialize(doc).unwrap();
            if let Some(config) = doc["data"]["config.yaml"].as_str() {
                let config: serde_yaml::Value = serde_yaml::from_str(config).unwrap();
                uses_kafka |= ["receivers", "exporters"].iter().any(|section| {
                    config[*section].as_mapping().is_some_and(|m| {
                        m.keys()
                            .filter_map(|k| k.as_str())
                            .any(|k| k.split('/').next() == Some("kafka"))
                    })
                });
            }
            let containers = &doc["spec"]["template"]["spec"]["containers"];
            for c in containers.as_sequence().into_iter().flatten() {
                if let Some(image) = c["image"].as_str().filter(|i| i.contains("/ccpipe:")) {
                    images.push(image.to_owned());
                }
            }
        }
        if images.is_empty() {
            continue;
        }
        kafka_manifests += usize::from(uses_kafka);
        for image in images {
            assert_eq!(
                image.ends_with("-kafka"),
                uses_kafka,
                "{}: {image} with a config that {} kafka",
                file.display(),
                if uses_kafka { "uses" } else { "does not use" }
            );
        }
    }
    assert_eq!(kafka_manifests, 2, "the edge and gateway tiers");
}
