//! Link arguments for the optimised `ccpipe` binary only (profiles `release`
//! and `container`; tests and debug builds link as before). See docs/layout.md.
//!
//! - `--symbol-ordering-file=link/symbol-order.txt`: the functions that run
//!   at start-up and under load, placed together at the start of `.text`, so
//!   the process faults in a few dense runs of code instead of pages from all
//!   over the binary (`scripts/symbol-order.py` regenerates the file from a
//!   callgrind profile and tells how much of it still matches a build).
//!   Names missing from a build are skipped silently: a stale file costs
//!   locality, never the build.
//! - `-z pack-relative-relocs` (DT_RELR): the ~35,000 relative relocations in
//!   a few KB instead of an 850 KB `.rela.dyn` read at start-up.
//!
//! Both only where they are known to work: x86_64 Linux with glibc, whose
//! default linker is rustc's LLD (GNU ld has no `--symbol-ordering-file`),
//! unless RUSTFLAGS choose another linker; DT_RELR only when the build host's
//! glibc is 2.36 or later (an older loader refuses such a binary).
use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-changed=build.rs");
    // PROFILE is "release" for every profile that inherits from release.
    if env::var("PROFILE").as_deref() != Ok("release") || !default_lld_target() {
        return;
    }
    if host_glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// x86_64 Linux with glibc, linked by rustc's own LLD (its default there),
/// with no linker chosen in RUSTFLAGS.
fn default_lld_target() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && !["linker=", "linker-flavor", "fuse-ld", "link-self-contained"]
            .iter()
            .any(|word| flags.contains(word))
}

/// The build host's glibc from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let found = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    found >= (major, minor)
}
