//! CPU time and peak memory of a process, read from `/proc` (Linux).

use std::process::Command;

use anyhow::{anyhow, Context, Result};

/// Clock ticks per second for `/proc/<pid>/stat`, from `getconf CLK_TCK`
/// (the workspace forbids `unsafe`, so no `libc::sysconf`); 100 when that fails.
pub fn clock_ticks() -> (u64, &'static str) {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .map_or((100, "assumed"), |t| (t, "getconf"))
}

/// utime + stime in clock ticks; `pid` may be `"self"`.
pub fn cpu_ticks(pid: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| anyhow!("unexpected format of {path}"))
}

/// Fields after the command name (which may hold spaces and parentheses):
/// state is field 3, utime 14, stime 15.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// This thread's CPU time in ns for `rounds` calls of `f`, the best of five
/// tries: the benches' measure (CPU time, which other work on a shared
/// machine stretches less than wall-clock; the best, which it cannot shrink).
pub fn best_thread_cpu_ns(tick: u64, rounds: usize, f: &mut dyn FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = cpu_ticks("thread-self").expect("/proc/thread-self/stat");
            for _ in 0..rounds {
                f();
            }
            let ticks = cpu_ticks("thread-self").expect("/proc/thread-self/stat") - start;
            ticks as f64 * 1e9 / tick as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Peak resident set size (VmHWM) in MiB.
pub fn peak_rss_mib(pid: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_hwm_kib(&status)
        .map(|kib| kib as f64 / 1024.0)
        .ok_or_else(|| anyhow!("no VmHWM in {path}"))
}

pub fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1534 0 0 0 170 33 0 0 20 0 5 0 9 1 2\n";
        assert_eq!(parse_cpu_ticks(stat), Some(203));
        assert!(cpu_ticks("self").is_ok());
    }

    #[test]
    fn parses_vm_hwm() {
        let status = "Name:\tccpipe\nVmPeak:\t  20000 kB\nVmHWM:\t   12288 kB\nVmRSS:\t 10000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(12288));
        assert!(peak_rss_mib("self").expect("self") > 0.0);
    }
}
