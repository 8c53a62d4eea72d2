//! The real Claude Code CLI for end-to-end tests: `@anthropic-ai/claude-code`
//! (pinned in tests/claude-cli/, installed with `npm ci` into
//! target/claude-code-cli/ on first use), the scripted fake Messages API it
//! talks to (tests/claude-cli/fake_model.py), the environment that keeps it
//! on this machine, and a bounded runner.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const CLI_VERSION: &str = "2.1.330";
const NPM_TIMEOUT: Duration = Duration::from_secs(600);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- the CLI

static INSTALL: Mutex<()> = Mutex::new(());

/// The pinned `claude` binary, installed from the npm registry on first use.
/// `target/claude-code-cli/.installed` holds the lockfile it was installed
/// from, so reruns skip npm until the pin changes.
pub fn claude_bin() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let src = manifest_dir().join("tests/claude-cli");
    let dir = manifest_dir().join("target/claude-code-cli");
    let claude = dir.join("node_modules/.bin/claude");
    let marker = dir.join(".installed");
    let lock = std::fs::read_to_string(src.join("package-lock.json")).unwrap();
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(lock.as_str()) {
        return claude;
    }
    let _ = std::fs::remove_file(&marker);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir);
    let run = match run_bounded(npm, NPM_TIMEOUT) {
        Ok(run) => run,
        Err(e) => panic!(
            "cannot install @anthropic-ai/claude-code@{CLI_VERSION}: {e}\n\
             this test needs npm (Node 20+) and the npm registry on its first run"
        ),
    };
    assert!(
        run.status.success(),
        "`npm ci` of @anthropic-ai/claude-code@{CLI_VERSION} into {} failed ({}); this test \
         needs the npm registry on its first run (it is never skipped):\n{}\n{}",
        dir.display(),
        run.status,
        run.stdout,
        run.stderr
    );
    // bin/claude.exe is a stub until the package's postinstall puts the native
    // binary there; should npm have skipped install scripts, run it ourselves.
    if claude_version(&claude).is_none() {
        let pkg = dir.join("node_modules/@anthropic-ai/claude-code");
        let mut node = Command::new("node");
        node.arg("install.cjs").current_dir(&pkg);
        let run = run_bounded(node, NPM_TIMEOUT).expect("node");
        assert!(
            run.status.success(),
            "claude-code postinstall failed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    let version = claude_version(&claude);
    assert!(
        version
            .as_deref()
            .is_some_and(|v| v.starts_with(&format!("{CLI_VERSION} "))),
        "{} --version printed {version:?}, expected {CLI_VERSION} (Claude Code)",
        claude.display()
    );
    std::fs::write(&marker, lock).unwrap();
    claude
}

fn claude_version(claude: &Path) -> Option<String> {
    let mut cmd = Command::new(claude);
    cmd.arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    let run = run_bounded(cmd, Duration::from_secs(60)).ok()?;
    run.status.success().then(|| run.stdout.trim().to_string())
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<Output, String> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read_all(Box::new(child.stdout.take().unwrap()));
    let err = read_all(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{:?} did not finish in {timeout:?} and was killed\nstdout:\n{}\nstderr:\n{}",
                cmd.get_program(),
                out.join().unwrap(),
                err.join().unwrap()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: start.elapsed(),
    })
}

// ------------------------------------------------------ the fake model API

/// tests/claude-cli/fake_model.py on 127.0.0.1, port 0; killed on drop.
pub struct FakeModel {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl FakeModel {
    pub fn start(dir: &Path) -> FakeModel {
        let log = dir.join("model-requests.jsonl");
        let mut child = Command::new("python3")
            .arg(manifest_dir().join("tests/claude-cli/fake_model.py"))
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the fake model server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("fake model server printed {line:?}, not its port"));
        FakeModel { child, port, log }
    }

    /// One JSON object per request the CLI made (method, path, status, model…).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("fake model log line"))
            .collect()
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment of the captures' meta.json with a fresh HOME: the API is
/// the fake model on `api`, nonessential traffic and the autoupdater are off,
/// proxies point at a closed port. Nothing is inherited but PATH; telemetry
/// settings are the caller's.
pub fn offline_env(home: &Path, tmp: &Path, api: u16) -> Vec<(String, String)> {
    let proxy = "http://127.0.0.1:9";
    let no_proxy = "127.0.0.1,localhost,::1";
    let env: Vec<(&str, String)> = vec![
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("HOME", home.display().to_string()),
        ("TMPDIR", tmp.display().to_string()),
        ("TERM", "dumb".into()),
        ("LANG", "C.UTF-8".into()),
        ("SHELL", "/bin/bash".into()),
        ("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{api}")),
        (
            "ANTHROPIC_API_KEY",
            "sk-ant-api03-fake-key-for-ccpipe-tests".into(),
        ),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("HTTP_PROXY", proxy.into()),
        ("HTTPS_PROXY", proxy.into()),
        ("http_proxy", proxy.into()),
        ("https_proxy", proxy.into()),
        ("NO_PROXY", no_proxy.into()),
        ("no_proxy", no_proxy.into()),
    ];
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
