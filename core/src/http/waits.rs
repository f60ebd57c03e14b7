//! Which APIs the process is waiting on right now, and why: the board the progress display
//! reads ("waiting: 10to8 throttled (429), retrying in 8 s") and the one place that logs a
//! stall, once when an API starts failing beyond its retries and once when it answers again,
//! never once per attempt.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Why calls to an API are being held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The API refused calls with 429.
    Throttled,
    /// The API's daily call budget is spent; it resets at this time.
    DailyLimit {
        /// When the budget resets.
        resets_at: DateTime<Utc>,
    },
    /// The API answered with this passing status (5xx, 408, 423, …).
    Status(u16),
    /// The API did not answer: a timeout, a refused or broken connection.
    Unreachable,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Throttled => f.write_str("throttled (429)"),
            Cause::DailyLimit { resets_at } => write!(
                f,
                "daily limit spent (resets {})",
                resets_at.format("%Y-%m-%d %H:%M UTC")
            ),
            Cause::Status(status) => write!(f, "answering {status}"),
            Cause::Unreachable => f.write_str("unreachable"),
        }
    }
}

/// One API being waited on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The API, as people name it (`10to8`, a CRM's name).
    pub api: &'static str,
    /// Why.
    pub cause: Cause,
    /// How long until the next attempt.
    pub retry_in: Duration,
    /// How long the API has gone without answering a call successfully.
    pub stalled_for: Duration,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waiting: {} {}, retrying in {}",
            self.api,
            self.cause,
            human_duration(self.retry_in)
        )
    }
}

/// A duration as people read it: `800 ms`, `8 s`, `4 min 10 s`, `7 h 5 min`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{} ms", duration.as_millis()),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[derive(Debug)]
struct Entry {
    api: &'static str,
    cause: Cause,
    until: Instant,
    stalled_since: Instant,
    /// Whether the stall was logged (the API failed beyond its retries).
    logged: bool,
}

static BOARD: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn board() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    BOARD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The APIs being waited on now, most recent first.
pub fn current() -> Vec<Wait> {
    let now = Instant::now();
    let mut waits: Vec<(Instant, Wait)> = board()
        .iter()
        .map(|entry| {
            let wait = Wait {
                api: entry.api,
                cause: entry.cause,
                retry_in: entry.until.saturating_duration_since(now),
                stalled_for: now - entry.stalled_since,
            };
            (entry.until, wait)
        })
        .collect();
    waits.sort_by_key(|(until, _)| std::cmp::Reverse(*until));
    waits.into_iter().map(|(_, wait)| wait).collect()
}

/// A call to `api` waits `retry_in` for `cause`, its API having made no progress for
/// `stalled_for`. `beyond_retries` says the call used up its plain retries and now waits on
/// the stall budget: the first such wait of a stall is logged at WARN.
pub(crate) fn waiting(
    api: &'static str,
    cause: Cause,
    retry_in: Duration,
    stalled_for: Duration,
    beyond_retries: bool,
) {
    let now = Instant::now();
    let until = now + retry_in;
    let mut board = board();
    let index = match board.iter().position(|entry| entry.api == api) {
        Some(index) => index,
        None => {
            board.push(Entry {
                api,
                cause,
                until,
                stalled_since: now - stalled_for,
                logged: false,
            });
            board.len() - 1
        }
    };
    let entry = &mut board[index];
    entry.cause = cause;
    entry.until = entry.until.max(until);
    if beyond_retries && !entry.logged {
        entry.logged = true;
        let budget_secs = super::max_stall().as_secs();
        match cause {
            Cause::DailyLimit { resets_at } => tracing::warn!(
                api,
                %resets_at,
                budget_secs,
                "{api}'s daily API limit is spent; pausing until it resets."
            ),
            _ => tracing::warn!(
                api,
                %cause,
                budget_secs,
                "{api} keeps failing ({cause}); waiting it out for as long as sync.max_stall_secs allows."
            ),
        }
    }
}

/// A call to `api` succeeded: it is no longer waited on.
pub(crate) fn answered(api: &'static str) {
    let mut board = board();
    if let Some(index) = board.iter().position(|entry| entry.api == api) {
        let entry = board.swap_remove(index);
        if entry.logged {
            let stalled_secs = entry.stalled_since.elapsed().as_secs();
            tracing::info!(api, stalled_secs, "{api} answers again.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_people_say_them() {
        let wait = Wait {
            api: "Acme CRM",
            cause: Cause::Throttled,
            retry_in: Duration::from_secs(8),
            stalled_for: Duration::from_secs(20),
        };
        assert_eq!(
            wait.to_string(),
            "waiting: Acme CRM throttled (429), retrying in 8 s"
        );
        let wait = Wait {
            api: "10to8",
            cause: Cause::Status(502),
            retry_in: Duration::from_millis(250),
            ..wait
        };
        assert_eq!(
            wait.to_string(),
            "waiting: 10to8 answering 502, retrying in 250 ms"
        );
        assert_eq!(human_duration(Duration::from_secs(250)), "4 min 10 s");
        assert_eq!(
            human_duration(Duration::from_secs(7 * 3600 + 300)),
            "7 h 5 min"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_board_shows_an_api_until_it_answers() {
        const API: &str = "board-test-api";
        waiting(
            API,
            Cause::Unreachable,
            Duration::from_secs(4),
            Duration::ZERO,
            false,
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let shown = current().into_iter().find(|w| w.api == API).unwrap();
        assert_eq!(shown.cause, Cause::Unreachable);
        assert_eq!(shown.retry_in, Duration::from_secs(3));
        assert_eq!(shown.stalled_for, Duration::from_secs(1));
        answered(API);
        assert!(current().iter().all(|w| w.api != API));
    }
}
