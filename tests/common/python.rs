//! Python venvs under target/ for the tests that drive a Python package
//! (the OpenTelemetry SDK, chDB): made and filled from the package registry
//! on first use; `.installed` marks a finished install.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The python of `target/<name>`, with `requirements` (a file under the
/// project) installed.
pub fn venv_python(name: &str, requirements: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join(name);
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    if !ready.exists() {
        let ok = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 is needed for this test");
        assert!(ok.success(), "python3 -m venv failed");
        let ok = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(root.join(requirements))
            .status()
            .unwrap();
        assert!(ok.success(), "pip install -r {requirements} failed");
        std::fs::write(&ready, "").unwrap();
    }
    python
}
