//! The ccpipe benchmark: a load generator (`loadgen`) that pushes Claude-Code-shaped
//! OTLP log requests at a server, and `bench/run.sh`, which runs it against ccpipe
//! and rotel side by side. See `bench/README.md`.

pub mod client;
pub mod proc;
pub mod request;
pub mod sink;
