//! The `ccpipe` binary's library half: the service that wires components from
//! config and runs them, usable in-process by the end-to-end tests.

pub mod banner;
pub mod service;

pub use service::{RunSummary, Service};
