//! The one-screen startup banner on stderr: what runs, from which config,
//! where it listens, and which pipelines carry what.

use std::fmt::Write;
use std::path::PathBuf;

use ccpipe_pipeline::config::Config;

use crate::Service;

/// `admin` holds the lines of ccpipe's own endpoints (metrics, health), shown
/// with the listeners, before the pipelines: a reader that stops at the
/// pipelines has seen every address.
pub fn render(config_files: &[PathBuf], config: &Config, service: &Service, admin: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "ccpipe {}", env!("CARGO_PKG_VERSION"));
    if config_files.is_empty() {
        let _ = writeln!(s, "  config:    <built-in default>");
    } else {
        for f in config_files {
            let _ = writeln!(s, "  config:    {}", f.display());
        }
    }
    for (id, proto, addr) in service.local_addrs() {
        let _ = writeln!(s, "  listening: {id} {proto} on {addr}");
    }
    s.push_str(admin);
    for (pid, p) in &config.service.pipelines {
        let join = |ids: &[ccpipe_pipeline::ComponentId]| {
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "  pipeline:  {pid}: [{}] -> [{}] -> [{}]",
            join(&p.receivers),
            join(&p.processors),
            join(&p.exporters)
        );
    }
    for w in &config.warnings {
        let _ = writeln!(s, "  warning:   {w}");
    }
    s
}
