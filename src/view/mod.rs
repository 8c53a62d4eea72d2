//! The web view (`service.view`, docs/view.md): one page with charts of what
//! the `sqlite` exporter stored, and the JSON API it reads, served by ccpipe
//! on loopback unless a bearer token is configured.
//!
//! - config.rs: `service.view`, checked at validate
//! - server.rs: the HTTP/1.1 server; auth.rs: who may read the API
//! - api.rs: runs a request; endpoint.rs: what a path asks and its answer;
//!   params.rs: the query string; queries.rs: the store
//! - assets.rs: the embedded page (page/), uPlot vendored in page/vendor/

pub mod api;
mod assets;
pub mod auth;
pub mod config;
pub mod endpoint;
pub mod params;
mod queries;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use ccpipe_pipeline::config::Config;
use ccpipe_pipeline::listeners::Listeners;
use ccpipe_pipeline::Shutdown;
use tokio::net::TcpListener;

pub use config::{from_config, ViewConfig};
pub use queries::Filter;

/// `service.view` checked against the rest of the config; opens nothing.
/// (The store exporter's own settings are its validate's to report.)
pub fn validate(config: &Config) -> Result<(), String> {
    from_config(config).map(|_| ()).map_err(|e| e.to_string())
}

/// The view's socket, bound but not yet serving: a reload binds it before
/// it builds the new graph, so a failure on either changes nothing.
pub struct Bound {
    listener: TcpListener,
    state: server::State,
}

/// The view as it serves; [`stop`](Running::stop) ends it.
pub struct Running {
    pub addr: SocketAddr,
    stop: Shutdown,
}

impl Running {
    /// Stops accepting; connections finish the request in flight and close.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// Binds the view when the config asks for one, through `listeners`: on
/// reload an unchanged `endpoint` is the same socket, never closed.
pub fn bind(config: &Config, listeners: &Listeners) -> Result<Option<Bound>, String> {
    let Some(view) = from_config(config).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let db = queries::database_path(config, &view.store)?;
    let listener = match listeners.bind("service.view", view.endpoint) {
        Ok(listener) => listener,
        Err(e) if !view.endpoint_configured => {
            tracing::warn!(
                address = %view.endpoint,
                "the view is off: cannot listen on its default address: {e}"
            );
            return Ok(None);
        }
        Err(e) => {
            let mut message = format!(
                "cannot listen on the view's endpoint {} (service.view.endpoint): {e}",
                view.endpoint
            );
            if e.kind() == std::io::ErrorKind::AddrInUse {
                let hint = ccpipe_pipeline::port_holder::in_use_hint(
                    view.endpoint.port(),
                    "service.view.endpoint",
                );
                message.push_str(&format!("; {hint}"));
            }
            return Err(message);
        }
    };
    let state = server::State {
        token: view.token,
        assets: assets::all(),
        api: api::Api::new(db),
    };
    Ok(Some(Bound { listener, state }))
}

impl Bound {
    /// Serves until `stop` (or the process's shutdown, its parent) fires.
    pub fn serve(self, stop: Shutdown) -> Result<Running, String> {
        let addr = self.listener.local_addr().map_err(|e| e.to_string())?;
        server::spawn(self.listener, Arc::new(self.state), stop.clone());
        Ok(Running { addr, stop })
    }
}

/// Binds and serves the view in one step (at start).
pub fn start(
    config: &Config,
    listeners: &Listeners,
    shutdown: &Shutdown,
) -> Result<Option<Running>, String> {
    bind(config, listeners)?
        .map(|b| b.serve(shutdown.child_token()))
        .transpose()
}

/// The banner's line for the view.
pub fn banner(view: Option<&Running>) -> String {
    view.map_or_else(String::new, |v| {
        format!("  view:      http://{}/\n", v.addr)
    })
}
