//! `tte-sync serve`: the long-running host. Loads the config, opens the store, builds the
//! connector, serves the HTTP app on `server.listen` (with `TCP_NODELAY`, a header deadline
//! and a connection cap, see [`listener`](crate::serve::listener)), and on SIGTERM or Ctrl-C
//! stops accepting, lets in-flight requests finish and exits 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;
use tte_sync_core::engine::Engine;

use crate::serve::listener::{self, ConnectionLimits};
use crate::serve::workers::{feed_loop, live_loop, reconcile_loop, release_claims};
use crate::serve::{AppState, Limits, Metrics, router};

/// Options of `tte-sync serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, env = "TTE_SYNC_CONFIG")]
    config: PathBuf,
}

/// Runs the server until SIGTERM or Ctrl-C.
///
/// # Errors
/// When the config, store, connector or mapping cannot be loaded, or the address is taken.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    crate::logging::init(&config.log)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let app = App::load(config).await?;
        serve(app, Arc::default(), shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The shared state of the HTTP app for a loaded installation, counting into `metrics`.
pub fn state_of(app: &App, metrics: Arc<Metrics>) -> Arc<AppState> {
    let server = &app.config.server;
    Arc::new(AppState {
        store: app.store.clone(),
        connector: app.connector.clone(),
        public_url: app.public_url(),
        tte_customers_url: app.tte.customers_url(),
        tte: Some(app.tte.clone()),
        configured_public_url: server.public_url.clone(),
        engine: engine_of(app),
        limits: Limits {
            max_body_bytes: server.max_body_bytes,
            request_timeout: Duration::from_secs(server.request_timeout_secs),
        },
        metrics,
    })
}

/// The sync engine for a loaded installation.
pub fn engine_of(app: &App) -> Engine {
    Engine::new(
        app.store.clone(),
        app.tte.clone(),
        app.connector.clone(),
        app.mapping.clone(),
    )
    .with_new_record_settle(Duration::from_secs(app.config.sync.new_record_settle_secs))
}

/// Serves `app` until `stop` resolves, then drains in-flight requests (up to
/// `server.shutdown_grace_secs`). `/metrics` exports `metrics` (which may already hold the
/// writes of a sync run before serving, as in the demo).
///
/// # Errors
/// When the listen address cannot be bound.
pub async fn serve(
    app: App,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listen = app.config.server.listen;
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("binding {listen}; change `server.listen` or stop what uses the port")
    })?;
    let local = listener.local_addr()?;
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(app.config.server.header_read_timeout_secs.max(1)),
        max_connections: app.config.server.max_connections.max(1),
    }
    .fitted_to_descriptors();
    let state = state_of(&app, metrics);
    crate::serve::oauth::load_installed(&state).await;
    crate::tte_subscription::reestablish(&app).await;
    if app.config.server.public_url.is_none() {
        tracing::warn!(
            public_url = %state.public_url,
            "`server.public_url` is not set; webhooks and installs only work locally."
        );
    }
    tracing::info!(
        listen = %local,
        public_url = %state.public_url,
        connector = app.connector.name(),
        store = app.store.location(),
        "Serving."
    );
    let grace = Duration::from_secs(app.config.server.shutdown_grace_secs);
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    // The engine's live processing is not `Send` across every lifetime, so the workers run
    // as local tasks on this thread while the HTTP server runs on the runtime's threads.
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
        let mut workers = tokio::task::JoinSet::new();
        let interval = app.config.sync.reconcile_interval_secs;
        let (first_done, ready) = tokio::sync::watch::channel(interval == 0);
        if interval > 0 {
            workers.spawn(reconcile_loop(
                engine_of(&app),
                Duration::from_secs(interval),
                state.metrics.clone(),
                first_done,
                stopped.clone(),
            ));
        }
        let replica = &crate::serve::webhooks::new_token()[..8];
        let poll = Duration::from_millis(app.config.sync.poll_interval_millis);
        let names: Vec<String> = (0..app.config.sync.workers.max(1))
            .map(|index| format!("serve-{replica}-{index}"))
            .collect();
        if app.connector.change_feed().is_some() {
            workers.spawn_local(feed_loop(
                engine_of(&app),
                state.metrics.clone(),
                ready.clone(),
                stopped.clone(),
            ));
        }
        for name in &names {
            workers.spawn_local(live_loop(
                engine_of(&app),
                name.clone(),
                poll,
                state.metrics.clone(),
                ready.clone(),
                stopped.clone(),
            ));
        }
        let server = listener::serve(listener, router(state), limits, async move {
            stop.await;
            let _ = stopping.send(true);
        });
        let mut server = tokio::spawn(server);
        let mut watch = stopped.clone();
        tokio::select! {
            result = &mut server => {
                result.context("the server task failed")?.context("serving HTTP")?;
            }
            _ = watch.wait_for(|stop| *stop) => {
                tracing::info!(grace_secs = grace.as_secs(), "Stopping: draining in-flight requests.");
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => result.context("the server task failed")?.context("serving HTTP")?,
                    Err(_) => {
                        tracing::warn!("In-flight requests did not finish in time; stopping anyway.");
                        server.abort();
                    }
                }
            }
        }
        if tokio::time::timeout(grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("Background work did not finish in time; stopping it.");
            workers.abort_all();
            while workers.join_next().await.is_some() {}
            // A stopped batch is like a crash (every step is idempotent), but its items need
            // not wait for their lease: hand them back so a restart takes them at once.
            for name in &names {
                release_claims(&app.store, name).await;
            }
        }
            anyhow::Ok(())
        })
        .await?;
    app.store.close().await;
    tracing::info!("Stopped.");
    Ok(())
}

/// Resolves on SIGTERM (Unix) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "Cannot listen for SIGTERM; stop with Ctrl-C.");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
