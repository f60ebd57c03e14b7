//! What the 10to8 simulator and client tests share: a loopback notification receiver that
//! records what it gets and can fail or stall on purpose, and polling for eventual state.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tte_sync_core::simulate::{ServedRouter, serve_on_loopback};

/// The longest any test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(60);

/// One notification as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    fail_next: AtomicU32,
    stall_next: AtomicU32,
}

/// A callback endpoint on loopback at `/hooks/tte`.
pub struct Receiver {
    inner: Arc<Inner>,
    served: ServedRouter,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let router = Router::new()
            .route("/hooks/tte", post(receive))
            .with_state(inner.clone());
        let served = serve_on_loopback(router, 0).await.unwrap();
        Self { inner, served }
    }

    /// The callback URL, with `user:password@` when given.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        let addr = self.served.addr;
        match userinfo {
            Some(userinfo) => format!("http://{userinfo}@{addr}/hooks/tte"),
            None => format!("http://{addr}/hooks/tte"),
        }
    }

    /// The next `n` POSTs are answered 500.
    pub fn fail_next(&self, n: u32) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// The next `n` POSTs are answered only after a long stall.
    pub fn stall_next(&self, n: u32) {
        self.inner.stall_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Every item received so far, in order.
    pub fn items(&self) -> Vec<String> {
        self.received()
            .iter()
            .flat_map(|r| r.body["items"].as_array().cloned().unwrap_or_default())
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect()
    }
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> StatusCode {
    if take_one(&inner.stall_next) {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return StatusCode::OK;
    }
    if take_one(&inner.fail_next) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    inner.received.lock().unwrap().push(Received {
        authorization: headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    });
    StatusCode::OK
}

/// Waits until `check` holds; panics (naming `what`) if it never does.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
