//! Notification delivery: changed customer URIs are collected for a short window, de-duplicated
//! and posted to every subscription as `{"scope":"customer","items":[…]}`. A POST that times
//! out (5 s by default) or gets a non-2xx is retried with exponential backoff; basic-auth
//! credentials in the callback URL are sent as an `Authorization: Basic` header. At most
//! `notification_max_in_flight` POSTs are in flight at once. Injected faults drop or duplicate
//! whole batches.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tracing::debug;

use super::state::SimState;
use crate::tte::SCOPE_CUSTOMER;

/// The longest wait between two delivery attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// Starts the delivery loop; it ends when the simulator is dropped.
pub(crate) fn spawn(
    state: Weak<SimState>,
    mut changes: UnboundedReceiver<String>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(config) = state.upgrade().map(|s| s.config.clone()) else {
            return;
        };
        let window = Duration::from_millis(config.notification_batch_window_ms);
        let batch_max = config.notification_batch_max.max(1);
        let in_flight = Arc::new(Semaphore::new(config.notification_max_in_flight.max(1)));
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_millis(config.notification_timeout_ms))
            .build()
        {
            Ok(http) => http,
            Err(error) => {
                debug!(%error, "Cannot build the notification client; notifications are off.");
                return;
            }
        };
        while let Some(first) = changes.recv().await {
            let mut batch = vec![first];
            let deadline = Instant::now() + window;
            while batch.len() < batch_max {
                match timeout_at(deadline, changes.recv()).await {
                    Ok(Some(uri)) => batch.push(uri),
                    Ok(None) | Err(_) => break,
                }
            }
            let mut seen = std::collections::HashSet::new();
            batch.retain(|uri| seen.insert(uri.clone()));
            let Some(state) = state.upgrade() else {
                return;
            };
            for subscription in state.subscriptions() {
                let faults = state.guard.faults();
                let counters = &state.guard.notifications;
                if state.guard.chance(faults.drop_notifications_percent) {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let copies = if state.guard.chance(faults.duplicate_notifications_percent) {
                    counters.duplicated.fetch_add(1, Ordering::Relaxed);
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        return;
                    };
                    let delivery = deliver(
                        state.clone(),
                        http.clone(),
                        subscription.callback_url.clone(),
                        batch.clone(),
                    );
                    tokio::spawn(async move {
                        delivery.await;
                        drop(permit);
                    });
                }
            }
        }
    })
}

async fn deliver(
    state: Arc<SimState>,
    http: reqwest::Client,
    callback_url: String,
    items: Vec<String>,
) {
    let Ok(mut url) = url::Url::parse(&callback_url) else {
        return;
    };
    let credentials = (!url.username().is_empty() || url.password().is_some()).then(|| {
        (
            percent_decode(url.username()),
            url.password().map(percent_decode),
        )
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let body = json!({ "scope": SCOPE_CUSTOMER, "items": items });
    let config = &state.config;
    let counters = &state.guard.notifications;
    let base_delay = Duration::from_millis(config.notification_retry_base_ms);
    for attempt in 0..=config.notification_retries {
        let mut request = http.post(url.clone()).json(&body);
        if let Some((user, password)) = &credentials {
            request = request.basic_auth(user, password.as_ref());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                counters
                    .items_delivered
                    .fetch_add(items.len() as u64, Ordering::Relaxed);
                return;
            }
            Ok(response) => {
                debug!(status = %response.status(), attempt, "A notification was refused.");
            }
            Err(error) => debug!(%error, attempt, "A notification failed."),
        }
        counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
        if attempt < config.notification_retries {
            let delay = base_delay
                .saturating_mul(1 << attempt.min(20))
                .min(MAX_RETRY_DELAY);
            tokio::time::sleep(delay).await;
        }
    }
    counters.abandoned.fetch_add(1, Ordering::Relaxed);
}

/// Userinfo as the URL holds it (`%XX`-encoded) back to the text it stands for.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_percent_decoded() {
        assert_eq!(percent_decode("a%40b%3Ac+d&e"), "a@b:c+d&e");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
