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
//! - `-z pack-relative-relocs` (DT_RELR, glibc >= 2.36): the ~35,000 relative
//!   relocations in a few KB instead of an 850 KB `.rela.dyn` read at start-up.
use std::path::Path;

fn main() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-changed=build.rs");
    // PROFILE is "release" for every profile that inherits from release.
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if !linux {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
