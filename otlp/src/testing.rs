//! Test support shared by the workspace's tests: seeded pseudo-random
//! generators (so a failing mutation test reproduces) and the captured
//! Claude Code requests. Not part of ccpipe's API.

use crate::records::Signal;

/// Xorshift64 (shifts 13, 7, 17): deterministic, so a failure reproduces.
pub struct Xorshift(pub u64);

impl Xorshift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Xorshift64* (shifts 12, 25, 27, then a multiply): deterministic, so a
/// failure reproduces.
pub struct XorshiftStar(pub u64);

impl XorshiftStar {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Every captured request's protobuf body (`<variant>/otlp/*-<signal>.bin`
/// under `tests/fixtures/claude-code/captures`), with its signal.
pub fn capture_bins() -> Vec<(Signal, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/claude-code/captures");
    let mut out = Vec::new();
    for variant in std::fs::read_dir(&root).expect("captures beside the project") {
        let dir = variant.unwrap().path().join("otlp");
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".bin") else {
                continue;
            };
            let signal = ["logs", "metrics", "traces"]
                .into_iter()
                .find(|s| stem.ends_with(&format!("-{s}")))
                .and_then(Signal::from_type)
                .unwrap_or_else(|| panic!("{}: no signal in the name", p.display()));
            out.push((signal, std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// `testdata/<ty>/lifecycle.yaml` below `manifest_dir` (a component
/// crate's): what the lifecycle test over that crate's factories builds
/// `ty` from. Panics naming the file when it is missing, so every
/// registered component needs one.
pub fn lifecycle_yaml(manifest_dir: &str, ty: &str) -> String {
    let path = std::path::Path::new(manifest_dir)
        .join("testdata")
        .join(ty)
        .join("lifecycle.yaml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{ty}: every component needs {}: {e}", path.display()))
}

/// `settings` indented to sit under `  <type>:` in a config section.
pub fn indented(settings: &str) -> String {
    settings.lines().map(|l| format!("    {l}\n")).collect()
}
