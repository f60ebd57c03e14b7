//! How long a client keeps retrying transient failures (429s, 5xx, timeouts, lost
//! connections): a failed call is retried a few times in any case, and beyond that for as
//! long as the API has answered some call successfully within the stall budget.
//!
//! The budget is one setting for the whole process (`sync.max_stall_secs`, set once by the
//! host at start); each client keeps its own clock of when its API last answered, so a storm
//! at one API is judged by that API's progress alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The stall budget when the host sets none: 15 minutes without a successful call.
pub const DEFAULT_MAX_STALL: Duration = Duration::from_secs(15 * 60);

static MAX_STALL_MILLIS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_STALL.as_millis() as u64);

/// Sets how long every client waits out transient failures without a successful call.
pub fn set_max_stall(budget: Duration) {
    MAX_STALL_MILLIS.store(budget.as_millis() as u64, Ordering::Relaxed);
}

/// The stall budget in force.
pub fn max_stall() -> Duration {
    Duration::from_millis(MAX_STALL_MILLIS.load(Ordering::Relaxed))
}

/// One API's progress clock. Clones share it.
#[derive(Debug, Clone)]
pub struct Patience {
    last_progress: Arc<Mutex<Instant>>,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            last_progress: Arc::new(Mutex::new(Instant::now())),
        }
    }
}

impl Patience {
    /// The API answered a call successfully.
    pub fn progressed(&self) {
        *self.lock() = Instant::now();
    }

    /// How long since the API last answered successfully (or since the client was made).
    pub fn stalled_for(&self) -> Duration {
        self.lock().elapsed()
    }

    /// Whether waiting `wait` more before the next attempt stays within the stall budget.
    pub fn allows(&self, wait: Duration) -> bool {
        self.stalled_for() + wait <= max_stall()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.last_progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_counts_from_the_last_success() {
        let patience = Patience::default();
        let budget = max_stall();
        assert!(patience.allows(budget));
        tokio::time::advance(budget / 2).await;
        assert!(patience.allows(budget / 2));
        assert!(!patience.allows(budget / 2 + Duration::from_secs(1)));
        patience.progressed();
        assert!(patience.allows(budget));
        assert_eq!(patience.stalled_for(), Duration::ZERO);
    }
}
