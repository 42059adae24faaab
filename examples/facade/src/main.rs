//! `routeyard-facade`: an HTTP server that speaks the REST dialects of Cloud Foundry
//! routing-api, Kong's Admin API, CDAP's route configs and gobetween's API on top of
//! a routeyard registry.
//!
//! It serves CF's HTTP routes, TCP route mappings, router groups and event streams;
//! Kong's services and routes, with backends (upstreams) and their statistics;
//! CDAP's version splits; and gobetween's servers, statistics and config dump. It
//! seeds the router group `default-tcp` (type tcp,
//! ports 1024-65535) as CF does on first start; checks CF's bearer tokens when given
//! a key; serves HTTPS when given a certificate; and shuts down gracefully on SIGINT
//! or SIGTERM. Without JWT authentication it only listens on a loopback address
//! unless told `--insecure`. Run `routeyard-facade --help` for the options.

mod app;
mod auth;
mod cdap;
mod cf;
mod cli;
mod debug;
mod events;
mod gobetween;
mod kong;
mod query;
mod tls;
mod upstream;

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use routeyard::{Config, Registry, RouterGroup};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{AppState, Limits};
use crate::auth::{Auth, BasicCredentials};
use crate::cli::{Command, Options, USAGE};

/// How often lapsed leases are swept (CF prunes every 10 s; lapsed entries are
/// never listed nor matched in between). Each sweep also samples the backends'
/// byte rates (so `rx_second`/`tx_second` are per second over the last second)
/// and removes drained backends.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

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
    match serve(*options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("routeyard-facade: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(options: Options) -> Result<(), Box<dyn Error>> {
    let started = SystemTime::now();
    raise_open_files_limit();
    let auth = if options.has_jwt() {
        Some(Arc::new(Auth::new(
            options.jwt_hs256_secret.as_deref(),
            options.jwt_rs256_public_key.as_deref(),
            options.jwt_issuer.as_deref(),
        )?))
    } else {
        None
    };
    let acceptor = match &options.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };

    let config = Config::new()
        .max_ttl(Duration::from_secs(options.max_ttl))
        .subscriber_buffer(options.event_buffer)
        .history(options.event_history);
    let registry = Arc::new(Registry::new(config));
    for seed in &options.seed_groups {
        registry
            .create_router_group(RouterGroup::new(&seed.name, &seed.kind, &seed.ports))
            .map_err(|err| format!("router group {:?}: {err}", seed.name))?;
    }
    let reaper = registry.start_reaper(REAP_INTERVAL);

    let (stop, shutdown) = watch::channel(false);
    let state = AppState {
        registry,
        auth,
        heartbeat: options.heartbeat,
        shutdown,
        started,
    };
    let limits = Limits {
        max_body_bytes: options.max_body_bytes,
        debug_credentials: options
            .basic_auth
            .as_ref()
            .map(|(user, pass)| BasicCredentials::new(user, pass)),
    };
    let app = app::router(state, limits);

    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", options.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    println!("routeyard-facade listening on {scheme}://{addr}");
    println!("  try: curl {scheme}://{addr}/routing/v1/router_groups");
    println!("  stop with Ctrl-C");

    // On a signal: end the event streams, then let open requests finish.
    let signalled = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    match acceptor {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(signalled)
                .await?
        }
        Some(acceptor) => {
            axum::serve(tls::TlsListener::new(listener, acceptor)?, app)
                .with_graceful_shutdown(signalled)
                .await?
        }
    }
    reaper.stop();
    println!("routeyard-facade stopped");
    Ok(())
}

/// Raises the soft limit on open files to the hard limit, as Go programs (CF's
/// routing-api among them) do at start: every connection and event stream holds a
/// descriptor, and a soft limit of 1024, common by default, would stall accepting
/// (the listener waits a second after each `EMFILE`) long before the hard limit,
/// which an administrator sets on purpose. Failing to raise it is not fatal.
#[cfg(unix)]
fn raise_open_files_limit() {
    /// A cap for an unlimited hard limit: Linux's default `fs.nr_open`.
    const CAP: libc::rlim_t = 1 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls get a pointer to a live `struct rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let wanted = limit.rlim_max.min(CAP);
    if limit.rlim_cur >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        eprintln!(
            "routeyard-facade: cannot raise the open files limit from {} to {wanted}",
            limit.rlim_cur
        );
    }
}

/// Elsewhere the limit stays as the system set it.
#[cfg(not(unix))]
fn raise_open_files_limit() {}

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
