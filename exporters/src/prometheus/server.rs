//! Serves the store on `/metrics` over HTTP/1.1 until stopped.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use ccpipe_pipeline::Shutdown;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::render::{render, Format};
use super::store::Store;

pub async fn serve(listener: TcpListener, store: Arc<Mutex<Store>>, stop: Shutdown) {
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("prometheus: cannot accept a connection: {e}");
                    continue;
                }
            },
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let store = Arc::clone(&store);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let store = Arc::clone(&store);
                async move { Ok::<_, Infallible>(answer(&store, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    connections.shutdown().await;
}

fn answer(store: &Mutex<Store>, req: &http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let respond = |status: u16, content_type: &str, body: String| {
        http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    };
    if req.uri().path() != "/metrics" {
        return respond(
            404,
            "text/plain",
            "not found; metrics are on /metrics\n".into(),
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return respond(405, "text/plain", "use GET\n".into());
    }
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let body = {
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        store.expire(Instant::now());
        render(store.families(), format)
    };
    respond(200, format.content_type(), body)
}
