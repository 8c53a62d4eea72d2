//! Python tools the tests install from the registry, each into a venv under
//! target/ on first use; `.installed` marks a finished install and records
//! where and what was installed (a venv's scripts name its absolute path, so
//! a moved checkout or changed requirements install again).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv `target/<name>`, with `requirements` (relative to the
/// repository) installed in it.
pub fn install(name: &str, requirements: &str) -> PathBuf {
    // The tests of one binary run in parallel threads and may all ask for
    // the same venv: two `python3 -m venv` on one folder fail.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(ROOT).join("target").join(name);
    let ready = venv.join(".installed");
    let wanted = format!(
        "{}\n{}",
        venv.display(),
        std::fs::read_to_string(Path::new(ROOT).join(requirements))
            .unwrap_or_else(|e| panic!("{requirements}: {e}"))
    );
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(wanted.as_str()) {
        // What an interrupted install left is started again from nothing.
        let _ = std::fs::remove_dir_all(&venv);
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
        std::fs::write(&ready, &wanted).unwrap();
    }
    venv
}
