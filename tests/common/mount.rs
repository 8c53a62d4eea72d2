//! A small tmpfs for full-disk tests (needs root with CAP_SYS_ADMIN, as CI runs).

use std::path::Path;

/// Unmounts a test's tmpfs when the test ends, however it ends.
pub struct Mount(std::path::PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` on `at`; fails the test, saying why, where
    /// mounting is not permitted (this test needs root with CAP_SYS_ADMIN).
    pub fn tmpfs(at: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Mount(at.to_owned()),
            Ok(o) => panic!(
                "cannot test a full disk: `mount -t tmpfs` on {} failed ({}): {}; this test needs root with CAP_SYS_ADMIN",
                at.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("cannot test a full disk: cannot run mount: {e}"),
        }
    }

    pub fn resize(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success(), "remount {} to {size}", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
