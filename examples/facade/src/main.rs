//! `routeyard-facade`: an HTTP server that speaks Cloud Foundry routing-api's REST
//! dialect on top of a routeyard registry.
//!
//! It serves the router group endpoints, seeds the group `default-tcp` (type tcp, ports
//! 1024-65535) as CF does on first start, and shuts down gracefully on SIGINT or SIGTERM.
//! There is no authentication yet, so it only listens on a loopback address unless told
//! `--insecure`. Run `routeyard-facade --help` for the options.

mod app;
mod cli;

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use routeyard::{Config, Registry, RouterGroup};
use tokio::net::TcpListener;

use crate::cli::{Command, Options, USAGE};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("routeyard-facade: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("routeyard-facade: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(options: Options) -> Result<(), Box<dyn Error>> {
    let config = Config::new().max_ttl(Duration::from_secs(options.max_ttl));
    let registry = Arc::new(Registry::new(config));
    registry.create_router_group(RouterGroup::new("default-tcp", "tcp", "1024-65535"))?;

    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", options.listen))?;
    let addr = listener.local_addr()?;
    println!("routeyard-facade listening on http://{addr}");
    println!("  try: curl http://{addr}/routing/v1/router_groups");
    println!("  stop with Ctrl-C");

    axum::serve(listener, app::router(registry))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    println!("routeyard-facade stopped");
    Ok(())
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            eprintln!("routeyard-facade: cannot watch for Ctrl-C: {err}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                eprintln!("routeyard-facade: cannot watch for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
