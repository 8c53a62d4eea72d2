//! The view's HTTP/1.1 server: the embedded page and its assets for anyone
//! who can reach it, the JSON API behind [`auth`](super::auth). GET and HEAD
//! only; every answer, including errors, is built here so no input reaches
//! a panic.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::api;
use super::assets::{self, Asset};
use super::auth::{self, Refusal};
use super::endpoint::Answer;
use ccpipe_pipeline::config::Secret;
use ccpipe_pipeline::Shutdown;

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The page may load only its own files and talk only to this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every connection shares.
pub struct State {
    pub token: Option<Secret>,
    pub assets: Vec<Asset>,
    pub api: api::Api,
}

/// Serves `state` on `listener` until `stop` fires: then it accepts no more,
/// and each open connection ends after the request it is serving (a
/// reload's new view takes over the socket).
pub fn spawn(listener: TcpListener, state: Arc<State>, stop: Shutdown) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "view: cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = state.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(respond(&state, req).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                let ended = tokio::select! {
                    ended = conn.as_mut() => ended,
                    _ = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "view connection ended with an error");
                }
            });
        }
    });
}

async fn respond<B>(state: &State, req: Request<B>) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    let mut response = route(state, &req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if head {
        *response.body_mut() = Full::new(Bytes::new());
    }
    response
}

async fn route<B>(state: &State, req: &Request<B>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = json(
            StatusCode::METHOD_NOT_ALLOWED,
            &error_body(&format!("{} is not allowed; use GET", req.method())),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/api/") {
        if let Err(refusal) = auth::check(state.token.as_ref(), req.headers()) {
            return refused(refusal);
        }
        let answer = state.api.answer(rest, req.uri().query()).await;
        return match answer {
            Answer::Json(body) => json(StatusCode::OK, &body),
            Answer::Error(status, message) => json(status, &error_body(&message)),
        };
    }
    // The page holds no data; it asks for the token when the API says 401.
    match assets::find(&state.assets, path) {
        Some(asset) => asset_response(asset, req.headers().get(header::IF_NONE_MATCH)),
        None => json(
            StatusCode::NOT_FOUND,
            &error_body(&format!("unknown path {path:?}; the view is at /")),
        ),
    }
}

fn asset_response(asset: &Asset, if_none_match: Option<&HeaderValue>) -> Response<Full<Bytes>> {
    let fresh = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut r = match fresh {
        true => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        }
        false => Response::new(Full::new(Bytes::from_static(asset.body))),
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, etag);
    }
    if asset.path == "/" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    r
}

fn refused(refusal: Refusal) -> Response<Full<Bytes>> {
    match refusal {
        Refusal::Unauthorized => {
            let mut r = json(
                StatusCode::UNAUTHORIZED,
                &error_body("this view needs its token: Authorization: Bearer <token>"),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ccpipe view\""),
            );
            r
        }
        Refusal::ForeignHost => json(
            StatusCode::FORBIDDEN,
            &error_body(
                "this view answers only requests addressed to 127.0.0.1 or localhost (set service.view.auth to serve other names)",
            ),
        ),
    }
}

fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default()
}

fn json(status: StatusCode, body: &[u8]) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
