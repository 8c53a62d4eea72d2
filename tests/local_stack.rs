//! deploy/local-stack and deploy/clickhouse as far as they can be checked
//! without a container engine
//! pulling images (none can here): the compose file, Prometheus, Loki and
//! Grafana provisioning files parse, and every reference between them holds
//! — mounted files exist, ports and host names match the configs, the
//! dashboard's datasource variables find a provisioned datasource, ports are
//! published on loopback only, retention is set, the scripts parse.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

fn stack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local-stack")
}

fn clickhouse_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/clickhouse")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `(host file, container path)` of a service's bind mounts, host paths
/// resolved against deploy/local-stack.
fn mounts(service: &Value) -> Vec<(PathBuf, String)> {
    mounts_in(&stack(), service)
}

fn mounts_in(dir: &Path, service: &Value) -> Vec<(PathBuf, String)> {
    strings(&service["volumes"])
        .iter()
        .filter(|v| v.starts_with('.'))
        .map(|v| {
            let mut parts = v.split(':');
            let host = dir.join(parts.next().unwrap());
            (host, parts.next().expect("a container path").to_owned())
        })
        .collect()
}

/// The port of an `host:port` or `scheme://host:port/path` string.
fn port(s: &str) -> u16 {
    let rest = s.rsplit_once(':').expect("a port").1;
    rest.split('/')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric port")
}

#[test]
fn compose_services_ports_and_mounts_hold_together() {
    let compose = yaml(&stack().join("compose.yaml"));
    let services = &compose["services"];
    for name in ["ccpipe", "prometheus", "loki", "grafana"] {
        assert!(services[name].is_mapping(), "no {name} service");
    }
    assert!(
        services["loki"]["image"]
            .as_str()
            .unwrap()
            .starts_with("grafana/loki:3."),
        "Loki 3"
    );
    // Loopback only, and every bind-mounted file exists.
    for (name, service) in services.as_mapping().unwrap() {
        for p in strings(&service["ports"]) {
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name:?} publishes {p} beyond loopback"
            );
        }
        for (host, _) in mounts(service) {
            assert!(
                host.exists(),
                "{name:?} mounts {} which is missing",
                host.display()
            );
        }
    }

    // ccpipe runs the shipped config where the image's HEALTHCHECK reads it.
    let ccpipe = &services["ccpipe"];
    let (config_path, target) = mounts(ccpipe).into_iter().next().expect("a config mount");
    assert_eq!(target, "/etc/ccpipe/config.yaml");
    assert!(config_path.ends_with("configs/prometheus-loki.yaml"));
    let config = yaml(&config_path);
    let env = &ccpipe["environment"];
    assert_eq!(
        env["CCPIPE_HOST"], "0.0.0.0",
        "reachable from the other containers"
    );
    let published: BTreeSet<u16> = strings(&ccpipe["ports"]).iter().map(|p| port(p)).collect();
    for protocol in ["grpc", "http"] {
        let endpoint = config["receivers"]["otlp"]["protocols"][protocol]["endpoint"]
            .as_str()
            .unwrap();
        assert!(endpoint.starts_with("${env:CCPIPE_HOST:-127.0.0.1}:"));
        assert!(
            published.contains(&port(endpoint)),
            "{protocol} port not published"
        );
    }

    // ccpipe → Loki: the service's name and Loki's listen port.
    let loki_config = yaml(&stack().join("loki/loki.yaml"));
    let loki_port = loki_config["server"]["http_listen_port"].as_u64().unwrap() as u16;
    assert_eq!(
        env["LOKI_ENDPOINT"],
        format!("http://loki:{loki_port}").as_str()
    );
    assert!(config["exporters"]["otlp_http/loki"]["endpoint"]
        .as_str()
        .unwrap()
        .ends_with("}/otlp"));

    // Prometheus → ccpipe: the scrape target is the service and the exporter's port.
    let prometheus = yaml(&stack().join("prometheus/prometheus.yml"));
    let exporter = config["exporters"]["prometheus"]["endpoint"]
        .as_str()
        .unwrap();
    let targets = strings(&prometheus["scrape_configs"][0]["static_configs"][0]["targets"]);
    assert_eq!(targets, [format!("ccpipe:{}", port(exporter))]);
    for rule_file in strings(&prometheus["rule_files"]) {
        assert!(
            stack().join("prometheus").join(&rule_file).exists(),
            "{rule_file}"
        );
    }
    let command = strings(&services["prometheus"]["command"]).join(" ");
    for flag in [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.retention.time=",
        "--storage.tsdb.retention.size=",
    ] {
        assert!(command.contains(flag), "prometheus lacks {flag}");
    }
    assert_eq!(loki_config["compactor"]["retention_enabled"], true);
    assert!(loki_config["limits_config"]["retention_period"].is_string());
}

#[test]
fn grafana_provisioning_serves_the_dashboard_with_its_datasources() {
    let compose = yaml(&stack().join("compose.yaml"));
    let grafana = &compose["services"]["grafana"];
    let prov = stack().join("grafana/provisioning");
    let mounted = mounts(grafana);
    assert!(mounted
        .iter()
        .any(|(host, target)| host.ends_with("grafana/provisioning")
            && target == "/etc/grafana/provisioning"));

    let datasources = yaml(&prov.join("datasources/datasources.yaml"));
    let mut uids = BTreeSet::new();
    let mut types = BTreeSet::new();
    for ds in datasources["datasources"].as_sequence().unwrap() {
        let uid = ds["uid"].as_str().expect("a fixed uid");
        assert!(uids.insert(uid.to_owned()), "uid {uid} twice");
        types.insert(ds["type"].as_str().unwrap().to_owned());
        let url = ds["url"].as_str().unwrap();
        let (service, expected_port) = match ds["type"].as_str().unwrap() {
            "prometheus" => ("prometheus", 9090),
            "loki" => {
                let loki = yaml(&stack().join("loki/loki.yaml"));
                (
                    "loki",
                    loki["server"]["http_listen_port"].as_u64().unwrap() as u16,
                )
            }
            other => panic!("unexpected datasource type {other}"),
        };
        assert_eq!(url, format!("http://{service}:{expected_port}"));
        assert!(compose["services"][service].is_mapping());
    }

    // The dashboard provider's folder holds the mounted dashboard, and every
    // datasource the dashboard uses is a variable of a provisioned type or a
    // provisioned uid.
    let providers = yaml(&prov.join("dashboards/dashboards.yaml"));
    let folder = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let (dashboard, _) = mounted
        .iter()
        .find(|(_, target)| target.starts_with(folder) && target.ends_with(".json"))
        .expect("a dashboard mounted in the provider's folder");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard).unwrap()).unwrap();
    let vars = dash["templating"]["list"].as_array().unwrap();
    let mut used = 0;
    fn walk(v: &serde_json::Value, f: &mut dyn FnMut(&serde_json::Value)) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(ds) = m.get("datasource") {
                    f(ds);
                }
                m.values().for_each(|x| walk(x, f));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    walk(&dash, &mut |ds| {
        used += 1;
        let uid = ds["uid"].as_str().unwrap();
        if let Some(var) = uid.strip_prefix("${").and_then(|u| u.strip_suffix('}')) {
            let var = vars
                .iter()
                .find(|v| v["name"] == var && v["type"] == "datasource")
                .unwrap_or_else(|| panic!("no datasource variable {var}"));
            let kind = var["query"].as_str().unwrap();
            assert!(types.contains(kind), "no provisioned {kind} datasource");
            assert_eq!(ds["type"], kind);
        } else {
            assert!(
                uids.contains(uid),
                "datasource uid {uid} is not provisioned"
            );
        }
    });
    assert!(used > 20, "{used} datasource references");
    assert!(types.contains("loki") && types.contains("prometheus"));
}

#[test]
fn the_clickhouse_compose_runs_the_shipped_config_against_its_server() {
    let compose = yaml(&clickhouse_dir().join("compose.yaml"));
    let services = &compose["services"];
    for (name, service) in services.as_mapping().unwrap() {
        for p in strings(&service["ports"]) {
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name:?} publishes {p} beyond loopback"
            );
        }
    }
    let ccpipe = &services["ccpipe"];
    let (config_path, target) = mounts_in(&clickhouse_dir(), ccpipe)
        .into_iter()
        .next()
        .expect("a config mount");
    assert_eq!(target, "/etc/ccpipe/config.yaml");
    assert!(config_path.ends_with("configs/clickhouse.yaml") && config_path.exists());
    let config = yaml(&config_path);
    let exporter = &config["exporters"]["clickhouse"];
    let env = &ccpipe["environment"];
    // Each ${env:X:-…} the config reads is set to what the compose's server takes.
    for (key, var) in [
        ("endpoint", "CLICKHOUSE_ENDPOINT"),
        ("username", "CLICKHOUSE_USER"),
        ("password", "CLICKHOUSE_PASSWORD"),
        ("schema", "CLICKHOUSE_SCHEMA"),
    ] {
        let value = exporter[key].as_str().unwrap();
        assert!(
            value.contains(&format!("${{env:{var}")),
            "{key} reads {var}"
        );
        assert!(env[var].is_string(), "compose sets {var}");
    }
    assert_eq!(env["CLICKHOUSE_ENDPOINT"], "http://clickhouse:8123");
    assert_eq!(env["CLICKHOUSE_SCHEMA"], "modern");
    assert_eq!(env["CCPIPE_HOST"], "0.0.0.0");
    let server = &services["clickhouse"];
    assert_eq!(
        server["environment"]["CLICKHOUSE_USER"],
        env["CLICKHOUSE_USER"]
    );
    assert_eq!(
        server["environment"]["CLICKHOUSE_PASSWORD"],
        env["CLICKHOUSE_PASSWORD"]
    );
    // The modern schema needs ClickHouse 22 or newer.
    let image = server["image"].as_str().unwrap();
    let major: u32 = image
        .rsplit(':')
        .next()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(major >= 22, "{image}");
}

#[test]
fn the_start_and_stop_scripts_parse_and_are_executable() {
    use std::os::unix::fs::PermissionsExt;
    // A PATH with neither docker nor podman: the scripts say so and exit 1.
    let bin = std::env::temp_dir().join(format!("ccpipe-test-no-engine-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let dirname = bin.join("dirname");
    if !dirname.exists() {
        std::os::unix::fs::symlink("/usr/bin/dirname", &dirname).unwrap();
    }
    for script in ["start.sh", "stop.sh"] {
        let path = stack().join(script);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
        let ok = Command::new("sh").arg("-n").arg(&path).status().unwrap();
        assert!(ok.success(), "{script} does not parse");
        let out = Command::new("/bin/sh")
            .arg(&path)
            .env("PATH", &bin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{script}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "local-stack: needs docker compose or podman compose\n",
            "{script}"
        );
    }
    let _ = std::fs::remove_dir_all(bin);
}
