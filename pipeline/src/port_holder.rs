//! Who holds a TCP port, for "address already in use" errors: the process
//! listening on it (Linux `/proc`, when we may read it) and the services that
//! usually sit on well-known telemetry ports. Best effort: every lookup that
//! fails just leaves that part out of the message.

use std::fs;
use std::path::Path;

/// The processes listening on `port` (any address) as `pid N (command)`.
pub fn listening_processes(port: u16) -> Vec<String> {
    listening_processes_in(Path::new("/proc"), port)
}

fn listening_processes_in(proc: &Path, port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = fs::read_to_string(proc.join(table)) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(proc) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
        });
        if holds {
            found.push(format!("pid {pid} ({})", command(&entry.path())));
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The inodes of sockets in LISTEN state on `port` in a `/proc/net/tcp*` table.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit_once(':')?.1;
            let listening =
                u16::from_str_radix(local_port, 16).ok()? == port && *cols.get(3)? == LISTEN;
            listening.then(|| cols.get(9).map(|i| (*i).to_owned()))?
        })
        .filter(|inode| inode != "0")
        .collect()
}

/// The program path and first argument, else the short name.
fn command(pid_dir: &Path) -> String {
    if let Ok(raw) = fs::read(pid_dir.join("cmdline")) {
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .take(2)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.is_empty() {
            return args.join(" ");
        }
    }
    fs::read_to_string(pid_dir.join("comm"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// What usually listens on a well-known port, if it is one.
pub fn usual_holder(port: u16) -> Option<&'static str> {
    Some(match port {
        4317 => {
            "the OTLP/gRPC port: a Datadog Agent's OTLP intake, an OpenTelemetry Collector, \
                 Grafana Alloy, Jaeger, or another ccpipe"
        }
        4318 => {
            "the OTLP/HTTP port: a Datadog Agent's OTLP intake, an OpenTelemetry Collector, \
                 Grafana Alloy, Jaeger, or another ccpipe"
        }
        14317 | 14318 => "the port configs/datadog.yaml gives ccpipe: probably another ccpipe",
        8888 => "the OpenTelemetry Collector's own metrics port",
        13133 => "the OpenTelemetry Collector's health_check port",
        8126 => "the Datadog Agent's APM (trace) intake",
        9090 => "Prometheus",
        _ => return None,
    })
}

/// One sentence for an "address already in use" error on `port`: who holds
/// it and which config key moves us elsewhere.
pub fn in_use_hint(port: u16, key: &str) -> String {
    let holders = listening_processes(port);
    let mut hint = format!("port {port} is taken");
    if !holders.is_empty() {
        hint.push_str(&format!(" by {}", holders.join(", ")));
    }
    if let Some(usual) = usual_holder(port) {
        hint.push_str(&format!(" ({port} is {usual})"));
    }
    hint.push_str(&format!(
        "; stop that process or give ccpipe another port with {key}"
    ));
    if matches!(port, 4317 | 4318) {
        hint.push_str(
            " (configs/datadog.yaml uses 127.0.0.1:14317 / 127.0.0.1:14318 to sit beside an Agent; \
             `ccpipe claude-settings --write` then points Claude Code there)",
        );
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:10DE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:10DE 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:10DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn only_listening_sockets_on_the_port_count() {
        assert_eq!(listening_inodes(TABLE, 4318), ["4242"]);
        assert_eq!(listening_inodes(TABLE, 4317), ["77"]);
        assert!(listening_inodes(TABLE, 9).is_empty());
        assert!(listening_inodes("garbage\n1 2\n", 4318).is_empty());
    }

    #[test]
    fn our_own_listener_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = format!("pid {} (", std::process::id());
        let found = listening_processes(port);
        assert!(found.iter().any(|p| p.starts_with(&me)), "{found:?}");
        let hint = in_use_hint(port, "receivers.otlp.protocols.http.endpoint");
        assert!(
            hint.starts_with(&format!("port {port} is taken by {me}")),
            "{hint}"
        );
        assert!(
            hint.ends_with("with receivers.otlp.protocols.http.endpoint"),
            "{hint}"
        );
    }

    #[test]
    fn well_known_ports_name_their_usual_holder() {
        let hint = in_use_hint(4318, "receivers.otlp.protocols.http.endpoint");
        assert!(hint.contains("a Datadog Agent's OTLP intake"), "{hint}");
        assert!(hint.contains("127.0.0.1:14318"), "{hint}");
        assert_eq!(
            usual_holder(4317).map(|u| u.starts_with("the OTLP/gRPC")),
            Some(true)
        );
        assert_eq!(usual_holder(40000), None);
    }
}
