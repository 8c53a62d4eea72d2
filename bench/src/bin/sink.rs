//! sink: a raw OTLP destination on 127.0.0.1 for the forwarding rows of
//! bench/run.sh. Answers every HTTP/1.1 and gRPC export with success and prints
//! what arrived as one JSON line on SIGTERM or SIGINT.
//!
//!   sink --http 127.0.0.1:4318 --grpc 127.0.0.1:4317
//!   sink --http 127.0.0.1:0 --grpc 127.0.0.1:0 --ports-file PATH   # "GRPC_PORT HTTP_PORT"

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use ccpipe_bench::sink::{bind_loopback, serve_grpc, serve_http, Counts};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

/// Accepts OTLP exports on loopback and discards them.
#[derive(Debug, Parser)]
#[command(name = "sink")]
struct Args {
    /// OTLP/HTTP address (any path; a content-length is required).
    #[arg(long)]
    http: SocketAddr,
    /// OTLP/gRPC (h2c) address.
    #[arg(long)]
    grpc: SocketAddr,
    /// Once both listen, write "GRPC_PORT HTTP_PORT" here (for port 0).
    #[arg(long)]
    ports_file: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // One thread: the sink shares the load generator's core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let counts = Arc::new(Counts::default());
        let http = bind_loopback(args.http).await?;
        let grpc = bind_loopback(args.grpc).await?;
        if let Some(path) = &args.ports_file {
            let ports = format!(
                "{} {}\n",
                grpc.local_addr()?.port(),
                http.local_addr()?.port()
            );
            // Written whole then renamed, so a reader never sees half of it.
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, ports)?;
            std::fs::rename(&tmp, path)?;
        }
        tokio::spawn(serve_http(http, counts.clone()));
        tokio::spawn(serve_grpc(grpc, counts.clone()));
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        println!("{}", counts.json());
        Ok(())
    })
}
