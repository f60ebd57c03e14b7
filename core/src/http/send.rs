//! The one retry loop every API client sends its calls through ([`Sender::send`]): wait for the
//! pacer, try the call, and when it fails for a passing cause back off (exponentially, with
//! jitter, at least as long as the API asked) and try again — the policy's retries in any case,
//! then on for as long as the API answered some call within the stall budget
//! (`sync.max_stall_secs`, [`Patience`]). Each wait is put on the [`waits`](super::waits) board
//! for the progress display, and each call counted in the client's [`ServiceStats`].
//!
//! The client keeps what only it knows: how to build and authenticate a request and what an
//! answer means ([`Attempt`]); how calls are paced is a [`Pacer`] it passes in.

use std::future::Future;
use std::time::Duration;

use backon::BackoffBuilder;

use super::limiter::AdaptiveLimiter;
use super::stats::ServiceStats;
use super::waits::{self, Cause};
use super::{Patience, RetryPolicy};
use crate::connector::{ConnectorError, ErrorKind};

/// Spaces calls to one API. The shared loop waits for it before each attempt and tells it how
/// each attempt went; the pacing itself is the implementation's business.
pub trait Pacer: Send + Sync {
    /// Waits for the next call's turn; returns how long it waited.
    fn acquire(&self) -> impl Future<Output = Duration> + Send;
    /// The API refused a call with 429; `wait` is how long it asked to wait, when it said.
    fn throttled(&self, wait: Option<Duration>);
    /// The API answered a call (anything but a 429 or a passing failure).
    fn answered(&self) {}
}

impl Pacer for AdaptiveLimiter {
    fn acquire(&self) -> impl Future<Output = Duration> + Send {
        AdaptiveLimiter::acquire(self)
    }

    fn throttled(&self, wait: Option<Duration>) {
        self.on_throttled(wait);
    }

    fn answered(&self) {
        self.on_success();
    }
}

/// No pacing at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpaced;

impl Pacer for Unpaced {
    async fn acquire(&self) -> Duration {
        Duration::ZERO
    }

    fn throttled(&self, _: Option<Duration>) {}
}

/// How one attempt went, as the client reads the answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Attempt<T, E> {
    /// The API answered; this is the result (which may be a refusal the caller reads).
    Answered(T),
    /// The API answered with a refusal that repeating will not change.
    Refused(E),
    /// A passing failure: try again after at least `wait` (when the API said how long).
    Passing {
        /// What happened, for the progress display and the logs.
        cause: Cause,
        /// How long the API asked to wait, if it said.
        wait: Option<Duration>,
        /// The error to report if the loop gives up.
        error: E,
    },
    /// Try again at once, without counting a retry (e.g. after refreshing a refused token);
    /// the client makes sure this cannot repeat forever.
    Again,
}

impl<T> Attempt<T, ConnectorError> {
    /// What the loop does with a call that failed with `error`: a rate limit is waited out for
    /// as long as it asked (else `wait`), another passing failure backs off as `cause`, and
    /// anything else is final.
    pub fn of_failure(error: ConnectorError, cause: Cause, wait: Option<Duration>) -> Self {
        match error.kind() {
            ErrorKind::RateLimited {
                retry_after,
                daily: false,
            } => Self::Passing {
                cause: Cause::Throttled,
                wait: retry_after.or(wait),
                error,
            },
            ErrorKind::Transient => Self::Passing { cause, wait, error },
            _ => Self::Refused(error),
        }
    }
}

/// How many times a call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tries {
    /// The policy's retries, then on while the stall budget allows (none at all when the
    /// policy allows no retries: retrying is off).
    Patient,
    /// At most this many retries, whatever the stall budget (health checks want the answer
    /// now).
    AtMost(usize),
}

/// The retry loop of one API: its name, retry policy, progress clock and call counters.
#[derive(Debug, Clone)]
pub struct Sender {
    api: &'static str,
    policy: RetryPolicy,
    patience: Patience,
    stats: &'static ServiceStats,
}

impl Sender {
    /// A loop for the API people call `api` (`10to8`, a CRM's name), counting into `stats`.
    pub fn new(api: &'static str, policy: RetryPolicy, stats: &'static ServiceStats) -> Self {
        Self {
            api,
            policy,
            patience: Patience::default(),
            stats,
        }
    }

    /// The retry policy in force.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The API's progress clock.
    pub fn patience(&self) -> &Patience {
        &self.patience
    }

    /// Runs `attempt` until it is answered, refused, or the retries and the stall budget are
    /// spent.
    ///
    /// # Errors
    /// The refusal, or the last passing failure when the loop gave up.
    pub async fn send<T, E, P, F, Fut>(
        &self,
        pacer: &P,
        tries: Tries,
        mut attempt: F,
    ) -> Result<T, E>
    where
        P: Pacer + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        let mut backoff = self.policy.backoff().without_max_times().build();
        let mut retries = 0_usize;
        loop {
            self.stats.waited(pacer.acquire().await);
            let (cause, asked, error) = match attempt().await {
                Attempt::Answered(value) => {
                    self.answered(pacer);
                    return Ok(value);
                }
                Attempt::Refused(error) => {
                    self.answered(pacer);
                    return Err(error);
                }
                Attempt::Again => continue,
                Attempt::Passing { cause, wait, error } => (cause, wait, error),
            };
            let step = backoff.next().unwrap_or(self.policy.max_delay);
            let wait = match (cause, asked) {
                // The API said how long; waiting longer only loses time.
                (Cause::Throttled | Cause::DailyLimit { .. }, Some(asked)) => asked,
                (_, Some(asked)) => step.max(asked),
                (_, None) => step,
            };
            if cause == Cause::Throttled {
                pacer.throttled(asked);
                self.stats.waited(wait);
            }
            let within_retries = retries < self.policy.max_retries;
            let allowed = match tries {
                Tries::AtMost(most) => retries < most,
                // `max_retries: 0` turns retrying off altogether.
                Tries::Patient if self.policy.max_retries == 0 => false,
                // A long wait (a daily limit, a large `Retry-After`) only within the budget.
                Tries::Patient => {
                    (within_retries && wait <= self.policy.max_delay) || self.patience.allows(wait)
                }
            };
            if !allowed {
                return Err(error);
            }
            retries += 1;
            let stalled_for = self.patience.stalled_for();
            waits::waiting(self.api, cause, wait, stalled_for, !within_retries);
            tracing::debug!(api = self.api, %cause, retries, wait_ms = wait.as_millis() as u64, "Retrying a call.");
            tokio::time::sleep(wait).await;
        }
    }

    fn answered<P: Pacer + ?Sized>(&self, pacer: &P) {
        pacer.answered();
        self.patience.progressed();
        waits::answered(self.api);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::http::stats;

    fn sender(max_retries: usize) -> Sender {
        let policy = RetryPolicy {
            max_retries,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        Sender::new("send-test", policy, stats::service("send-test"))
    }

    /// Answers `failures` passing failures, then succeeds.
    fn flaky(
        failures: usize,
        cause: Cause,
        wait: Option<Duration>,
    ) -> (AtomicUsize, impl Fn(&AtomicUsize) -> Attempt<usize, String>) {
        let calls = AtomicUsize::new(0);
        let attempt = move |calls: &AtomicUsize| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            if n < failures {
                Attempt::Passing {
                    cause,
                    wait,
                    error: format!("failure {n}"),
                }
            } else {
                Attempt::Answered(n)
            }
        };
        (calls, attempt)
    }

    #[derive(Default)]
    struct Recorder {
        throttled: Mutex<Vec<Option<Duration>>>,
        answered: AtomicUsize,
    }

    impl Pacer for Recorder {
        async fn acquire(&self) -> Duration {
            Duration::ZERO
        }
        fn throttled(&self, wait: Option<Duration>) {
            self.throttled.lock().unwrap().push(wait);
        }
        fn answered(&self) {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn passing_failures_are_retried_beyond_the_count_while_the_budget_allows() {
        let sender = sender(2);
        let (calls, attempt) = flaky(30, Cause::Status(502), None);
        let result = sender
            .send(&Unpaced, Tries::Patient, || async { attempt(&calls) })
            .await;
        assert_eq!(result, Ok(30), "30 failures are far fewer than 15 minutes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_stops_when_the_stall_budget_is_spent() {
        let sender = sender(2);
        let (calls, attempt) = flaky(usize::MAX, Cause::Unreachable, None);
        let started = tokio::time::Instant::now();
        let result = sender
            .send(&Unpaced, Tries::Patient, || async { attempt(&calls) })
            .await;
        assert!(result.is_err());
        let waited = started.elapsed();
        assert!(waited <= crate::http::max_stall(), "{waited:?}");
        assert!(
            waited + Duration::from_secs(2) >= crate::http::max_stall(),
            "waited close to the whole budget: {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retries_turns_retrying_off() {
        let sender = sender(0);
        let (calls, attempt) = flaky(1, Cause::Status(503), None);
        let result = sender
            .send(&Unpaced, Tries::Patient, || async { attempt(&calls) })
            .await;
        assert_eq!(result, Err("failure 0".to_owned()));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_count_ignores_the_budget() {
        let sender = sender(5);
        let (calls, attempt) = flaky(usize::MAX, Cause::Unreachable, None);
        let result = sender
            .send(&Unpaced, Tries::AtMost(0), || async { attempt(&calls) })
            .await;
        assert_eq!(result, Err("failure 0".to_owned()));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_waits_as_long_as_the_api_asked_and_tells_the_pacer() {
        let sender = sender(3);
        let pacer = Recorder::default();
        let asked = Duration::from_secs(7);
        let (calls, attempt) = flaky(2, Cause::Throttled, Some(asked));
        let started = tokio::time::Instant::now();
        let result = sender
            .send(&pacer, Tries::Patient, || async { attempt(&calls) })
            .await;
        assert_eq!(result, Ok(2));
        assert_eq!(started.elapsed(), asked * 2);
        assert_eq!(*pacer.throttled.lock().unwrap(), [Some(asked), Some(asked)]);
        assert_eq!(pacer.answered.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let sender = sender(3);
        let calls = AtomicUsize::new(0);
        let result: Result<(), &str> = sender
            .send(&Unpaced, Tries::Patient, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Attempt::Refused("no")
            })
            .await;
        assert_eq!(result, Err("no"));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
