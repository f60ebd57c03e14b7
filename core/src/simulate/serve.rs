//! Serving an axum router on loopback, as simulators and tests do.

use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A router being served on `127.0.0.1`; dropping it (or [`ServedRouter::shutdown`]) stops it.
#[derive(Debug)]
pub struct ServedRouter {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServedRouter {
    /// `http://127.0.0.1:<port>` with no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServedRouter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `router` on `127.0.0.1:port` (`0` picks a free port) with `TCP_NODELAY` on every
/// accepted socket (keep-alive clients otherwise stall ~40 ms per request on delayed ACKs).
///
/// # Errors
/// Fails when the port cannot be bound.
pub async fn serve_on_loopback(router: Router, port: u16) -> std::io::Result<ServedRouter> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(ServedRouter {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}
