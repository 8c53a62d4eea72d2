//! The config loader on mutated YAML must answer with an error or a config,
//! never panic: deterministic mutations (seeded xorshift) of every testdata
//! file, the shipped configs and the built-in default. Bounded, for CI; the
//! open-ended version is `fuzz/fuzz_targets/config_load.rs`.

use std::path::Path;

use super::load_str;
use crate::testing::Xorshift as Rng;

/// Fragments that steer mutations towards YAML's corner cases: flow and
/// block structure, anchors, aliases and merge keys, tags, quoting, env
/// references, odd scalars.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "'",
    "\"",
    "#",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!tag ",
    "? ",
    "|\n",
    ">-\n",
    "${env:",
    "${env:X:-",
    "}",
    "$$",
    "${",
    "~",
    "null",
    "1e309",
    "-0",
    "0x",
    "\u{feff}",
    "\u{0}",
    "é",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
];

fn mutate(rng: &mut Rng, text: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(text.len() + 1);
        match rng.below(6) {
            0 if !text.is_empty() => {
                let i = rng.below(text.len());
                text[i] = rng.next_u64() as u8;
            }
            1 if !text.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(text.len());
                text.drain(at.min(end)..end);
            }
            2 => {
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())];
                text.splice(at..at, f.bytes());
            }
            3 if !text.is_empty() => {
                let start = rng.below(text.len());
                let end = (start + 1 + rng.below(64)).min(text.len());
                let copy = text[start..end].to_vec();
                text.splice(at..at, copy);
            }
            4 => text.truncate(at),
            _ => {
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())];
                text.splice(at..at, f.repeat(1 + rng.below(40)).bytes());
            }
        }
    }
}

fn seeds() -> Vec<String> {
    let mut out = vec![super::DEFAULT_CONFIG.to_owned()];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [root.join("testdata/config"), root.join("../configs")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
        {
            out.push(std::fs::read_to_string(f).unwrap());
        }
    }
    out
}

#[test]
fn mutated_configs_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() > 20, "found the testdata");
    let mut rng = Rng(0x5EED_C0F1_6000_0001);
    let (mut ok, mut err) = (0, 0);
    // CCPIPE_FUZZ_ROUNDS=1000000 for a longer run by hand.
    let rounds = std::env::var("CCPIPE_FUZZ_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    for round in 0..rounds {
        let mut text = seeds[round % seeds.len()].clone().into_bytes();
        mutate(&mut rng, &mut text);
        let text = String::from_utf8_lossy(&text).into_owned();
        let result = std::panic::catch_unwind(|| {
            load_str("fuzz.yaml", &text).map(|config| config.to_masked_yaml())
        });
        match result {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
            Err(_) => panic!("the loader panicked on:\n{text}"),
        }
    }
    // Both outcomes occur, so the mutations are neither all fatal nor all harmless.
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
}
