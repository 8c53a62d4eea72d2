//! The `ccpipe` binary's library half: the service that wires components from
//! config and runs them, usable in-process by the end-to-end tests.

pub mod admin;
pub mod answer;
pub mod banner;
pub mod cli;
pub mod health;
pub mod pidfile;
pub mod reload;
pub mod resident;
pub mod self_metrics;
pub mod service;
pub mod sigpipe;
pub mod view;

pub use service::{RunSummary, Service};
