//! `claude-settings --endpoint URL`: Claude Code pointed at a remote gateway
//! (a central ccpipe or Collector) rather than at this config's receiver.
//!
//! The URL becomes a [`Listen`] as if it were a receiver, so the env block,
//! `--write` and `--check` work the same way: `https://` means TLS, a path
//! prefix (`https://gw.example.com/otlp`) is kept in front of each
//! `/v1/<signal>`, and a URL without a port gets the scheme's (443 / 80).

use ccpipe_receivers::otlp::config::{Endpoint, InvalidEndpoint};

use super::listen::Listen;
use super::otel_env::{Protocol, Signal};
use ccpipe_pipeline::config::Secret;

/// The gateway at `url`, spoken to with `protocol`; `signals` are those the
/// gateway takes (from the config given with it, else all).
pub fn listen(
    url: &str,
    protocol: Protocol,
    token: Option<String>,
    signals: Vec<Signal>,
) -> Result<Listen, String> {
    let bad = |why: &str| format!("--endpoint {url:?}: {why}");
    let uri: http::Uri = url
        .trim()
        .parse()
        .map_err(|_| bad("not a URL; write it as https://host:port"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("not an http:// or https:// URL")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "holds credentials; pass a token with --bearer-token-env or --header",
        ));
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let endpoint: Endpoint = format!("{}:{port}", authority.host())
        .parse()
        .map_err(|e: InvalidEndpoint| bad(&e.to_string()))?;
    let prefix = uri.path().trim_end_matches('/');
    if protocol.is_grpc() && !prefix.is_empty() {
        return Err(bad("a gRPC endpoint has no path; use scheme://host:port"));
    }
    let paths = [Signal::Metrics, Signal::Logs, Signal::Traces]
        .map(|s| format!("{prefix}{}", s.default_path()));
    let (grpc, http) = if protocol.is_grpc() {
        (Some(endpoint), None)
    } else {
        (None, Some((endpoint, paths)))
    };
    Ok(Listen {
        receiver: format!("--endpoint {url}"),
        grpc,
        http,
        tls,
        mtls: false,
        token: token.map(Secret::new),
        signals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Signal> {
        Signal::ALL.to_vec()
    }

    #[test]
    fn urls_become_targets() {
        let l = listen(
            "https://otel.example.com",
            Protocol::HttpProtobuf,
            None,
            all(),
        )
        .unwrap();
        assert!(l.tls);
        let (e, paths) = l.http.clone().unwrap();
        assert_eq!(l.url(&e), "https://otel.example.com:443");
        assert_eq!(paths[1], "/v1/logs");

        let l = listen(
            "https://gw.example.com:8443/otlp/",
            Protocol::HttpProtobuf,
            None,
            all(),
        )
        .unwrap();
        assert_eq!(l.http_path(Signal::Traces), Some("/otlp/v1/traces"));

        let l = listen("http://10.0.0.5:4317", Protocol::Grpc, None, all()).unwrap();
        assert_eq!(l.url(l.grpc.as_ref().unwrap()), "http://10.0.0.5:4317");
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        let err = |u: &str, p| listen(u, p, None, all()).unwrap_err();
        assert_eq!(
            err("gw:4317", Protocol::Grpc),
            "--endpoint \"gw:4317\": not an http:// or https:// URL"
        );
        assert_eq!(
            err("https://u:p@gw:4318", Protocol::HttpProtobuf),
            "--endpoint \"https://u:p@gw:4318\": holds credentials; pass a token with --bearer-token-env or --header"
        );
        assert_eq!(
            err("http://gw:4317/otlp", Protocol::Grpc),
            "--endpoint \"http://gw:4317/otlp\": a gRPC endpoint has no path; use scheme://host:port"
        );
    }
}
