//! Who may read the API: with a token configured, requests carrying
//! `Authorization: Bearer <token>`; without one (loopback only, see
//! config.rs), requests addressed to a loopback name, so a web page on
//! another site cannot read it through DNS rebinding.

use http::header::{AUTHORIZATION, HOST};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use ccpipe_pipeline::config::Secret;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, or the wrong one.
    Unauthorized,
    /// 403: the Host header names something other than a loopback address.
    ForeignHost,
}

pub fn check(token: Option<&Secret>, headers: &HeaderMap) -> Result<(), Refusal> {
    match token {
        Some(token) => bearer_matches(token, headers),
        None => loopback_host(headers),
    }
}

/// Compares digests in constant time, so neither the token's bytes nor its
/// length show in the time a wrong guess takes.
fn bearer_matches(token: &Secret, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(Refusal::Unauthorized)?;
    let want = Sha256::digest(token.expose().as_bytes());
    let got = Sha256::digest(given.as_bytes());
    match bool::from(want.ct_eq(&got)) {
        true => Ok(()),
        false => Err(Refusal::Unauthorized),
    }
}

fn loopback_host(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.0 without Host: no browser sends that.
        return Ok(());
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match loopback {
        true => Ok(()),
        false => Err(Refusal::ForeignHost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        let token = Secret::new("s3cret-token");
        let cases = [
            (vec![], Err(Refusal::Unauthorized)),
            (vec![(AUTHORIZATION, "Bearer s3cret-token")], Ok(())),
            (vec![(AUTHORIZATION, "bearer  s3cret-token ")], Ok(())),
            (
                vec![(AUTHORIZATION, "Bearer s3cret-toke")],
                Err(Refusal::Unauthorized),
            ),
            (
                vec![(AUTHORIZATION, "Bearer s3cret-token2")],
                Err(Refusal::Unauthorized),
            ),
            (
                vec![(AUTHORIZATION, "Basic s3cret-token")],
                Err(Refusal::Unauthorized),
            ),
            (
                vec![(AUTHORIZATION, "s3cret-token")],
                Err(Refusal::Unauthorized),
            ),
        ];
        for (h, want) in cases {
            assert_eq!(check(Some(&token), &headers(&h)), want, "{h:?}");
        }
    }

    #[test]
    fn without_a_token_only_loopback_hosts_are_served() {
        let cases = [
            ("127.0.0.1:4319", Ok(())),
            ("localhost:4319", Ok(())),
            ("LOCALHOST", Ok(())),
            ("[::1]:4319", Ok(())),
            ("127.0.0.2:80", Ok(())),
            ("evil.example:4319", Err(Refusal::ForeignHost)),
            ("10.0.0.1:4319", Err(Refusal::ForeignHost)),
            ("[2001:db8::1]:4319", Err(Refusal::ForeignHost)),
            ("localhost.evil.example", Err(Refusal::ForeignHost)),
        ];
        for (host, want) in cases {
            assert_eq!(check(None, &headers(&[(HOST, host)])), want, "{host}");
        }
    }
}
