//! The web view's server from outside, on the real binary: refused at
//! validate when it would be exposed without a token, the token enforced,
//! and bad input answered with errors that name the problem (and the
//! process still serving afterwards).

mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{bin, Ccpipe};
use common::view::{config, get, request, view_addr};
use common::{temp_dir, write_config};

#[test]
fn a_view_beyond_loopback_without_a_token_is_refused_at_validate() {
    let dir = temp_dir("view-exposed");
    let yaml = config(&dir.join("ccpipe.db"), "").replace("127.0.0.1:0\n", "0.0.0.0:0\n");
    let path = write_config(&dir, &yaml);
    let line = yaml.lines().position(|l| l.contains("0.0.0.0:0")).unwrap() + 1;
    for args in [&["validate", "--config"][..], &["--config"][..]] {
        let out = Command::new(bin()).args(args).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: accepted:\n{stderr}");
        let want = format!(
            "ccpipe.yaml:{line}: service.view.endpoint: 0.0.0.0:0 is reachable from other machines"
        );
        assert!(stderr.contains(&want), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("view: http"),
            "{args:?}: it served: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn with_auth_the_api_answers_only_the_token() {
    let dir = temp_dir("view-auth");
    let auth = "    auth: { bearer_token_env: CCPIPE_VIEW_TEST_TOKEN }";
    let yaml = config(&dir.join("ccpipe.db"), auth);
    let mut cmd = Command::new(bin());
    cmd.arg("--config").arg(write_config(&dir, &yaml));
    cmd.env("CCPIPE_VIEW_TEST_TOKEN", "correct horse battery");
    let ccpipe = Ccpipe::start_command(cmd);
    let addr = view_addr(&ccpipe.stderr());

    let none = get(addr, "/api/summary");
    assert_eq!(none.status, 401, "{}", String::from_utf8_lossy(&none.body));
    assert!(none.json()["error"].as_str().unwrap().contains("token"));
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"ccpipe view\"")
    );
    for wrong in [
        "Bearer correct horse",
        "Bearer correct horse battery!",
        "Basic Y29ycmVjdA==",
    ] {
        let r = request(addr, "GET", "/api/summary", &[("authorization", wrong)]);
        assert_eq!(r.status, 401, "{wrong}");
    }
    let good = [("authorization", "Bearer correct horse battery")];
    let r = request(addr, "GET", "/api/summary", &good);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["tool_calls"], 0, "an empty store sums to zero");
    // With a token, any Host may ask (the token is the check).
    let r = request(
        addr,
        "GET",
        "/api/filters",
        &[good[0], ("host", "ccpipe.internal")],
    );
    assert_eq!(r.status, 200);
    // The page holds no data and loads without the token; it asks for it.
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("token-form"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_requests_get_errors_that_name_the_problem() {
    let dir = temp_dir("view-bad-input");
    let ccpipe = Ccpipe::start(&write_config(&dir, &config(&dir.join("ccpipe.db"), "")));
    let addr = view_addr(&ccpipe.stderr());

    let cases: &[(&str, u16, &str)] = &[
        ("/api/summary?from=yesterday", 400, "parameter `from`"),
        ("/api/daily?from=10&to=5", 400, "parameter `to`"),
        ("/api/tools?attr=team", 400, "parameter `attr`"),
        ("/api/top_sessions?limit=0", 400, "parameter `limit`"),
        ("/api/summary?user=%ff", 400, "parameter `user`"),
        ("/api/summary?usr=x", 400, "unknown parameter `usr`"),
        ("/api/session/no-such-session", 404, "no-such-session"),
        ("/api/nothing", 404, "unknown API path /api/nothing"),
        ("/nothing", 404, "unknown path \"/nothing\""),
    ];
    for (path, status, needle) in cases {
        let r = get(addr, path);
        assert_eq!(
            r.status,
            *status,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(needle), "{path}: {error}");
    }
    let post = request(addr, "POST", "/api/summary", &[("content-length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    // Without a token, a page on another site cannot read the API through
    // a name it points at 127.0.0.1 (DNS rebinding).
    let foreign = request(
        addr,
        "GET",
        "/api/summary",
        &[("host", "attacker.example:80")],
    );
    assert_eq!(foreign.status, 403);
    for host in ["localhost", "127.0.0.1"] {
        let r = request(addr, "GET", "/api/summary", &[("host", host)]);
        assert_eq!(r.status, 200, "{host}");
    }

    // The page and its assets: types, ETags, revalidation, HEAD.
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        (
            "/assets/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
        ),
        ("/assets/uPlot.min.css", "text/css; charset=utf-8"),
    ] {
        let r = get(addr, path);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(kind)),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        let etag = r.header("etag").expect("etag").to_owned();
        let again = request(addr, "GET", path, &[("if-none-match", &etag)]);
        assert_eq!((again.status, again.body.len()), (304, 0), "{path}");
        let head = request(addr, "HEAD", path, &[]);
        assert_eq!((head.status, head.body.len()), (200, 0), "{path}");
    }
    let page = get(addr, "/");
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );

    // A garbage request line does not take the server down.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let _ = s.write_all(b"\x00\xff GARBAGE \r\n\r\n");
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(get(addr, "/api/summary").status, 200, "still serving");
    let _ = std::fs::remove_dir_all(dir);
}

/// `ccpipe` with no config stores and serves the view (ports moved to the
/// OS's choice so tests run side by side).
#[test]
fn the_built_in_default_stores_and_serves_the_view() {
    let dir = temp_dir("view-default");
    let cmd = common::process::default_command(&dir, &dir.join("data"));
    let ccpipe = Ccpipe::start_command(cmd);
    let addr = view_addr(&ccpipe.stderr());
    assert_eq!(get(addr, "/").status, 200);
    let summary = get(addr, "/api/summary");
    assert_eq!(
        summary.status,
        200,
        "{}",
        String::from_utf8_lossy(&summary.body)
    );
    assert_eq!(summary.json()["sessions"], 0);
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits (bounded) until nothing listens on `addr` any more.
fn assert_closes(addr: std::net::SocketAddr, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            _ if std::time::Instant::now() > deadline => panic!("{what}: {addr} still listens"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// SIGHUP applies `service.view` as it does the receivers: a new endpoint
/// and token take effect (the old address closes), an unchanged endpoint
/// keeps its socket while the auth changes, an endpoint that cannot be
/// bound fails the reload and the view keeps serving, and `enabled: false`
/// turns it off.
#[test]
fn sighup_applies_the_views_new_config() {
    const STEP: Duration = Duration::from_secs(20);
    let dir = temp_dir("view-reload");
    let db = dir.join("ccpipe.db");
    let auth = "    auth: { bearer_token_env: CCPIPE_VIEW_TEST_TOKEN }";
    let at = |endpoint: &str, extra: &str| {
        config(&db, extra).replace(
            "    endpoint: 127.0.0.1:0\n",
            &format!("    endpoint: {endpoint}\n"),
        )
    };
    let path = write_config(&dir, &config(&db, ""));
    let mut cmd = Command::new(bin());
    cmd.arg("--config").arg(&path);
    cmd.env("CCPIPE_VIEW_TEST_TOKEN", "correct horse battery");
    let ccpipe = Ccpipe::start_command(cmd);
    let first = view_addr(&ccpipe.stderr());
    assert_eq!(get(first, "/api/summary").status, 200);
    let token = [("authorization", "Bearer correct horse battery")];
    let reload = |yaml: String, until: &str| {
        std::fs::write(&path, yaml).unwrap();
        let mark = ccpipe.stderr().len();
        ccpipe.signal("HUP");
        ccpipe.wait_for_stderr(mark, until, STEP)
    };

    // A new port and a token: served there, the old address closed.
    let port = common::free_port();
    let log = reload(at(&format!("127.0.0.1:{port}"), auth), "config reloaded");
    let second = view_addr(&log);
    assert_eq!(second.port(), port, "{log}");
    assert_eq!(get(second, "/api/summary").status, 401);
    assert_eq!(request(second, "GET", "/api/summary", &token).status, 200);
    assert_closes(first, "the previous view's address");

    // Same port, no token: the same socket, now open to loopback callers.
    let log = reload(at(&format!("127.0.0.1:{port}"), ""), "config reloaded");
    assert!(log.contains(&format!("127.0.0.1:{port}")), "{log}");
    assert_eq!(get(second, "/api/summary").status, 200);

    // A port someone else holds: the reload fails, the view goes on.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let log = reload(at(&busy.to_string(), ""), "reload failed");
    assert!(
        log.contains(&format!(
            "cannot listen on the view's endpoint {busy} (service.view.endpoint)"
        )),
        "{log}"
    );
    assert!(log.contains("the previous config keeps running"), "{log}");
    assert_eq!(get(second, "/api/summary").status, 200);

    // Turned off.
    let log = reload(
        at(&format!("127.0.0.1:{port}"), "    enabled: false"),
        "config reloaded",
    );
    assert!(log.contains("view: off in the reloaded config"), "{log}");
    assert_closes(second, "a view turned off");

    ccpipe.signal("TERM");
    let (status, stderr) = ccpipe.wait(STEP);
    assert!(status.success(), "exit {status}:\n{stderr}");
    drop(taken);
    let _ = std::fs::remove_dir_all(dir);
}
