//! The container image and the deployment examples, without a Docker engine:
//! the Dockerfile's entrypoint, command and health check are read from the
//! Dockerfile and run against the binary with configs/container.yaml (the
//! file the image copies to /etc/ccpipe/config.yaml); the Kubernetes and
//! compose files parse, and the ccpipe config in the ConfigMap validates.
//!
//! Plain `cargo test` runs it against the test build of the same source;
//! CCPIPE_CONTAINER_BIN names another binary. The image itself, built and run
//! with podman, is tests/container_image.rs.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process::Ccpipe;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const STEP: Duration = Duration::from_secs(20);
/// Where the Dockerfile puts the config in the image.
const IMAGE_CONFIG: &str = "/etc/ccpipe/config.yaml";

fn binary() -> String {
    std::env::var("CCPIPE_CONTAINER_BIN").unwrap_or_else(|_| common::process::bin().to_owned())
}

/// The Dockerfile's instructions, continuation lines joined: (name, rest).
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                let (name, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((name.to_ascii_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

fn instruction(all: &[(String, String)], name: &str) -> Vec<String> {
    all.iter()
        .filter(|(n, _)| n == name)
        .map(|(_, r)| r.clone())
        .collect()
}

/// An exec-form JSON array, as ENTRYPOINT, CMD and HEALTHCHECK CMD use.
fn exec_form(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not an exec-form array {text:?}: {e}"))
}

/// The image's paths mapped to the repository's files.
fn in_repo(args: Vec<String>) -> Vec<String> {
    let config = Path::new(ROOT).join("configs/container.yaml");
    args.into_iter()
        .map(|a| match a == IMAGE_CONFIG {
            true => config.display().to_string(),
            false => a,
        })
        .collect()
}

/// The image's root filesystem is built by the script CI runs, the final
/// stage is FROM scratch and copies only that, and the image is started as
/// `ccpipe --config /etc/ccpipe/config.yaml`, which is configs/container.yaml.
#[test]
fn dockerfile_builds_with_the_shared_script_and_runs_the_container_config() {
    let d = dockerfile();
    let runs = instruction(&d, "RUN");
    assert!(
        runs.iter()
            .any(|r| r.ends_with("scripts/container-build.sh /out \"$FEATURES\"")),
        "the image is built by scripts/container-build.sh: {runs:?}"
    );
    // Without Kafka unless asked for (`--build-arg FEATURES=kafka`).
    assert_eq!(
        instruction(&d, "ARG"),
        ["RUST_VERSION=1.95", "FEATURES=\"\""]
    );
    let froms = instruction(&d, "FROM");
    assert_eq!(
        froms.last().map(String::as_str),
        Some("scratch"),
        "{froms:?}"
    );
    let copies = instruction(&d, "COPY");
    assert!(copies.contains(&"--from=build /out/rootfs/ /".to_owned()));
    assert_eq!(instruction(&d, "ENTRYPOINT"), [r#"["ccpipe"]"#]);
    assert_eq!(
        exec_form(&instruction(&d, "CMD")[0]),
        ["--config", IMAGE_CONFIG]
    );
    assert_eq!(instruction(&d, "EXPOSE"), ["4317 4318 8888 13133"]);
    let user = instruction(&d, "USER");
    assert!(
        user.len() == 1 && !user[0].starts_with("root") && !user[0].starts_with('0'),
        "runs as a non-root user: {user:?}"
    );
    let script =
        std::fs::read_to_string(Path::new(ROOT).join("scripts/container-build.sh")).unwrap();
    assert!(script.contains("cargo build --locked --profile container"));
    assert!(script.contains("cp configs/container.yaml \"$rootfs/etc/ccpipe/config.yaml\""));
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[profile.container]"));
}

/// The container config on ports 0 (through CCPIPE_ overrides, as `docker
/// run -e` would set them), with none of the DD_ variables set: it starts,
/// and the Dockerfile's HEALTHCHECK command says healthy and ready.
#[test]
fn container_config_starts_and_answers_health() {
    let d = dockerfile();
    let entrypoint = exec_form(&instruction(&d, "ENTRYPOINT")[0]);
    assert_eq!(entrypoint, ["ccpipe"]);
    let cmd = in_repo(exec_form(&instruction(&d, "CMD")[0]));
    let mut command = Command::new(binary());
    command.args(&cmd);
    for var in [
        "DD_AGENT_HOST",
        "DD_AGENT_OTLP_PORT",
        "DD_ENV",
        "DD_SERVICE",
        "DD_TEAM",
    ] {
        command.env_remove(var);
    }
    let any = "127.0.0.1:0";
    let overrides = [
        ("CCPIPE_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT", any),
        ("CCPIPE_RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT", any),
        ("CCPIPE_SERVICE__TELEMETRY__METRICS__ADDRESS", any),
        ("CCPIPE_SERVICE__HEALTH__ADDRESS", any),
    ];
    command.envs(overrides);
    let ccpipe = Ccpipe::start_command(command);
    let banner = ccpipe.wait_for_stderr(0, "health:", STEP);
    let health: String = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("health:"))
        .and_then(|rest| rest.trim().strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .expect("health address in the banner")
        .to_owned();

    // HEALTHCHECK [options] CMD [...]: run that command, with the image's
    // config path mapped and the health port the service got.
    let healthcheck = instruction(&d, "HEALTHCHECK");
    let (_, check) = healthcheck[0]
        .split_once("CMD ")
        .expect("HEALTHCHECK … CMD");
    let check = in_repo(exec_form(check));
    assert_eq!(check[0], "ccpipe");
    let run_check = |extra: &[&str]| {
        Command::new(binary())
            .args(&check[1..])
            .args(extra)
            .env("CCPIPE_SERVICE__HEALTH__ADDRESS", &health)
            .output()
            .unwrap()
    };
    // Ready comes right after the banner; allow it a moment.
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let out = run_check(&["--ready"]);
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run_check(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(STEP);
    assert!(status.success(), "exit {status}:\n{stderr}");
    // Nothing is listening any more: the check fails.
    assert!(!run_check(&[]).status.success());
}

/// Without any DD_ variable the container config still validates.
#[test]
fn container_config_validates_without_its_environment() {
    let mut command = Command::new(binary());
    command.args(["validate", "--config"]);
    command.arg(Path::new(ROOT).join("configs/container.yaml"));
    for var in [
        "DD_AGENT_HOST",
        "DD_AGENT_OTLP_PORT",
        "DD_ENV",
        "DD_SERVICE",
        "DD_TEAM",
    ] {
        command.env_remove(var);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The documents of a YAML stream (split on `---` lines).
fn yaml_documents(path: &Path) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs = vec![String::new()];
    for line in text.lines() {
        match line.trim_end() == "---" {
            true => docs.push(String::new()),
            false => docs.last_mut().unwrap().push_str(&format!("{line}\n")),
        }
    }
    docs.iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        })
        .map(|d| serde_yaml::from_str(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn deploy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            deploy_files(&path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("yaml") {
            out.push(path);
        }
    }
}

fn get<'a>(v: &'a serde_yaml::Value, path: &[&str]) -> &'a serde_yaml::Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// Every YAML file under deploy/ parses; the ccpipe config of every workload passes
/// `ccpipe validate`; the probes ask the health port; the grace period is
/// longer than the config's shutdown_timeout.
#[test]
fn deploy_yaml_parses_and_the_configmap_validates() {
    let mut files = Vec::new();
    deploy_files(&Path::new(ROOT).join("deploy"), &mut files);
    let mut kinds = BTreeMap::new();
    let mut docs = Vec::new();
    for f in &files {
        for doc in yaml_documents(f) {
            assert!(doc.is_mapping(), "{}: a document is not a map", f.display());
            let kind = doc["kind"].as_str().unwrap_or("compose").to_owned();
            *kinds.entry(kind).or_insert(0) += 1;
            docs.push(doc);
        }
    }
    for kind in ["ConfigMap", "Deployment", "DaemonSet", "compose"] {
        assert!(
            kinds.contains_key(kind),
            "no {kind} under deploy/: {kinds:?}"
        );
    }

    // Every workload that runs ccpipe: its ConfigMap's config validates
    // (with the container's environment), its grace period outlasts the
    // drain, its probes ask the config's health port.
    let mut workloads = 0;
    for workload in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
    {
        let name = get(workload, &["metadata", "name"]).as_str().unwrap();
        let pod = get(workload, &["spec", "template", "spec"]);
        let containers = pod["containers"].as_sequence().unwrap();
        let Some(ccpipe) = containers.iter().find(|c| c["name"] == "ccpipe") else {
            continue;
        };
        workloads += 1;
        let map_name = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|v| v["configMap"]["name"].as_str())
            .unwrap_or_else(|| panic!("{name}: no ConfigMap volume"));
        let config_map = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == map_name)
            .unwrap_or_else(|| panic!("{name}: no ConfigMap {map_name}"));
        let text = get(config_map, &["data", "config.yaml"]).as_str().unwrap();
        let dir = common::temp_dir(&format!("deploy-configmap-{name}"));
        let path = dir.join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let env = ccpipe["env"].as_sequence().unwrap();
        let mut validate = Command::new(binary());
        validate.arg("validate").arg("--config").arg(&path);
        for e in env {
            if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                validate.env(k, v);
            }
        }
        let out = validate.output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg = ccpipe_pipeline::config::load(std::slice::from_ref(&path)).unwrap();
        let _ = std::fs::remove_dir_all(dir);

        let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
        assert!(
            Duration::from_secs(grace) > cfg.service.shutdown_timeout + Duration::from_secs(2),
            "{name}: terminationGracePeriodSeconds {grace} must exceed shutdown_timeout {:?} + 2s",
            cfg.service.shutdown_timeout
        );
        let health_port = ccpipe["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "health")
            .map(|p| p["containerPort"].as_u64().unwrap())
            .unwrap();
        assert_eq!(
            Some(health_port as u16),
            cfg.service.health.map(|h| h.address.port()),
            "{name}"
        );
        assert_eq!(
            get(ccpipe, &["livenessProbe", "httpGet", "path"]),
            "/healthz"
        );
        assert_eq!(
            get(ccpipe, &["readinessProbe", "httpGet", "path"]),
            "/readyz"
        );
        if let Some(agent_host) = env.iter().find(|e| e["name"] == "DD_AGENT_HOST") {
            assert_eq!(
                get(agent_host, &["valueFrom", "fieldRef", "fieldPath"]),
                "status.hostIP",
                "{name}"
            );
        }
        assert!(get(ccpipe, &["resources", "limits", "memory"]).is_string());
    }
    assert!(
        workloads >= 3,
        "sidecar, kafka edge and gateway: {workloads}"
    );
}
