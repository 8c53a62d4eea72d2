//! Python tools the tests install from the registry, each into a venv under
//! target/ on first use; `.installed` marks a finished install.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv `target/<name>`, with `requirements` (relative to the
/// repository) installed in it.
pub fn install(name: &str, requirements: &str) -> PathBuf {
    let venv = Path::new(ROOT).join("target").join(name);
    let ready = venv.join(".installed");
    if !ready.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for this test");
        assert!(ok.success(), "python3 -m venv failed");
        let ok = Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(Path::new(ROOT).join(requirements))
            .status()
            .unwrap();
        assert!(ok.success(), "pip install -r {requirements} failed");
        std::fs::write(&ready, "").unwrap();
    }
    venv
}
