//! The accept loop of `serve`: HTTP/1 connections with a deadline for each request's headers
//! and a cap on how many are open at once, so slow or idle clients cannot starve `/healthz`
//! and the webhooks.
//!
//! - Each connection must send a request's headers within `header_read_timeout` of the
//!   server starting to wait for them (on connect, and after each response on a kept-alive
//!   connection); otherwise hyper closes it.
//! - At most `max_connections` are open. When one more arrives at the cap, the connection
//!   that has waited longest without a request in flight is closed to make room: a client
//!   that sends its request at once is served, one that trickles its headers is the one let
//!   go. Only when every open connection has a request in flight does accepting wait.
//! - When the process runs out of file descriptors anyway (another limit than ours), the
//!   same eviction frees one instead of spinning on the error.
//!
//! On shutdown the loop stops accepting, asks every connection to finish its request and
//! close, and returns once all are closed (the caller bounds that wait).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long to back off when accepting fails for a reason other than the descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Descriptors left to the store, the API clients and the log when the cap is derived from
/// the process's open-file limit.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many connections, and how patient with their headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// `max_connections` lowered to what the process's open-file limit allows (keeping
    /// `RESERVED_DESCRIPTORS` for everything else), with a warning when it had to be.
    pub fn fitted_to_descriptors(self) -> Self {
        let Some(limit) = open_file_limit() else {
            return self;
        };
        let room = usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS).max(1))
            .unwrap_or(usize::MAX);
        if self.max_connections <= room {
            return self;
        }
        tracing::warn!(
            max_connections = self.max_connections,
            open_file_limit = limit,
            serving_at_most = room,
            "`server.max_connections` is above what the open-file limit allows; raise the \
             limit (`ulimit -n`, `LimitNOFILE=` in systemd) or lower `server.max_connections`."
        );
        Self {
            max_connections: room,
            ..self
        }
    }
}

/// The soft `RLIMIT_NOFILE` of this process, where the platform shows it (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `app` on `listener` until `stop` resolves, then drains the open connections.
///
/// # Errors
/// Never at present; the signature leaves room for a listener that can fail for good.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let open = Arc::new(Open::default());
    let (closing, closing_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    let mut told_full = false;
    loop {
        // Make room first: a slot must be free before the next connection is taken.
        let freed = open.freed.notified();
        let mut freed = std::pin::pin!(freed);
        freed.as_mut().enable();
        if open.len() >= limits.max_connections && !open.evict_longest_waiting() {
            tokio::select! {
                () = freed => continue,
                () = &mut stop => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        match accepted {
            Ok((tcp, _peer)) => {
                let _ = tcp.set_nodelay(true);
                let (id, evicted) = open.add();
                if !told_full && open.len() >= limits.max_connections {
                    told_full = true;
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "Serving as many connections as `server.max_connections` allows; from \
                         now on the longest-waiting idle one is closed for each new one."
                    );
                }
                tasks.spawn(connection(
                    tcp,
                    app.clone(),
                    limits.header_read_timeout,
                    ConnectionSlot {
                        open: open.clone(),
                        id,
                    },
                    evicted,
                    closing_rx.clone(),
                ));
            }
            Err(error) if out_of_descriptors(&error) => {
                tracing::debug!(%error, open = open.len(), "Out of file descriptors; closing the longest-waiting connection.");
                if !open.evict_longest_waiting() {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
            // A client that gave up before it was accepted, and the like.
            Err(error) => {
                tracing::debug!(%error, "Accepting a connection failed.");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
        // Reap finished connection tasks as we go.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// EMFILE or ENFILE: the process or the system has no descriptor left.
fn out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// One connection: served by hyper until it ends, is evicted, or the server stops.
async fn connection(
    tcp: tokio::net::TcpStream,
    app: Router,
    header_read_timeout: Duration,
    slot: ConnectionSlot,
    evicted: Arc<Notify>,
    mut closing: watch::Receiver<bool>,
) {
    let slot = Arc::new(slot);
    let service = {
        let slot = slot.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let slot = slot.clone();
            let app = app.clone();
            async move {
                slot.busy();
                let response = app.oneshot(request.map(Body::new)).await;
                slot.waiting();
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    let mut conn = std::pin::pin!(conn);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "A connection ended with an error.");
                }
                break;
            }
            () = evicted.notified() => {
                tracing::debug!("Closed the longest-waiting connection to make room.");
                break;
            }
            changed = closing.changed(), if !shutting_down => {
                shutting_down = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The open connections: which of them wait for a request, and since when.
#[derive(Debug, Default)]
struct Open {
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Entry>>,
    /// Signalled whenever a connection closes.
    freed: Notify,
}

#[derive(Debug)]
struct Entry {
    /// When it started waiting for a request; `None` while one is in flight.
    waiting_since: Option<Instant>,
    evict: Arc<Notify>,
}

impl Open {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn add(&self) -> (u64, Arc<Notify>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        self.lock().insert(
            id,
            Entry {
                waiting_since: Some(Instant::now()),
                evict: evict.clone(),
            },
        );
        (id, evict)
    }

    /// Closes the connection that has waited longest for a request; `false` when every
    /// open connection has one in flight.
    fn evict_longest_waiting(&self) -> bool {
        let mut connections = self.lock();
        let oldest = connections
            .iter()
            .filter_map(|(id, entry)| entry.waiting_since.map(|since| (since, *id)))
            .min();
        let Some((_, id)) = oldest else {
            return false;
        };
        if let Some(entry) = connections.remove(&id) {
            entry.evict.notify_one();
        }
        true
    }

    fn set_waiting(&self, id: u64, waiting: bool) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.waiting_since = waiting.then(Instant::now);
        }
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.freed.notify_waiters();
    }
}

/// A connection's place in [`Open`], given back when the connection task ends.
#[derive(Debug)]
struct ConnectionSlot {
    open: Arc<Open>,
    id: u64,
}

impl ConnectionSlot {
    fn busy(&self) {
        self.open.set_waiting(self.id, false);
    }

    fn waiting(&self) {
        self.open.set_waiting(self.id, true);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            256                  4096                 files     \n";
        assert_eq!(parse_open_file_limit(limits), Some(256));
        assert_eq!(
            parse_open_file_limit("Max open files  unlimited  unlimited  files"),
            None
        );
        assert_eq!(parse_open_file_limit(""), None);
    }

    #[test]
    fn the_connection_waiting_longest_without_a_request_is_evicted() {
        let open = Open::default();
        let (first, _) = open.add();
        let (second, second_evict) = open.add();
        let (third, _) = open.add();
        open.set_waiting(first, false);
        assert!(open.evict_longest_waiting());
        // The second waited longest (the first has a request in flight), and is told so.
        assert!(open.lock().contains_key(&first));
        assert!(!open.lock().contains_key(&second));
        assert!(open.lock().contains_key(&third));
        tokio_test_notified(&second_evict);
        assert!(open.evict_longest_waiting());
        // Only the busy one is left: nothing to evict.
        assert!(!open.evict_longest_waiting());
        assert_eq!(open.len(), 1);
    }

    /// The permit `notify_one` left is there for the connection task to find.
    fn tokio_test_notified(notify: &Notify) {
        let notified = notify.notified();
        let mut notified = std::pin::pin!(notified);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(notified.as_mut().poll(&mut cx).is_ready());
    }
}
