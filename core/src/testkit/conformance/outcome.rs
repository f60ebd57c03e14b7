//! What a check says, the list of checks, and the runner that runs each on a fresh harness
//! and tallies a [`Report`].

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{ConformanceHarness, faults, records, webhooks};

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every promise the check names held.
    Passed,
    /// A promise was broken; the text says which and what happened instead.
    Failed(String),
    /// The check does not apply to this connector; the text says why.
    NotApplicable(String),
}

/// A broken promise, raised inside a check with [`ensure!`] or [`Promise::or_broken`].
#[derive(Debug)]
pub(super) struct Broken(pub(super) String);

/// What a check body returns: `Ok(Passed)`, `Ok(NotApplicable(..))`, or the broken promise.
pub(super) type Checked = Result<Outcome, Broken>;

/// Fails the check with the formatted promise unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($promise:tt)+) => {
        if !$cond {
            return Err($crate::testkit::conformance::outcome::Broken(format!($($promise)+)));
        }
    };
}
pub(super) use ensure;

/// Turns a failed call into the promise it breaks.
pub(super) trait Promise<T> {
    fn or_broken(self, promise: &str) -> Result<T, Broken>;
}

impl<T, E: fmt::Debug> Promise<T> for Result<T, E> {
    fn or_broken(self, promise: &str) -> Result<T, Broken> {
        self.map_err(|error| Broken(format!("{promise}: {error:?}")))
    }
}

/// A check of the kit: its name, the promise it judges, and its body.
#[derive(Clone, Copy)]
pub struct Check {
    /// A short stable name, e.g. `paging`.
    pub name: &'static str,
    /// The promise, for people.
    pub promise: &'static str,
    run: for<'a> fn(&'a dyn ConformanceHarness) -> BoxFuture<'a, Checked>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// Every check of the kit, in the order [`run`] runs them.
pub const CHECKS: &[Check] = &[
    Check {
        name: "round_trip",
        promise: "creates are retry-safe or found again by key; read, list, update and archive see exactly what was asked",
        run: |h| Box::pin(records::round_trip(h)),
    },
    Check {
        name: "find",
        promise: "find returns the live records holding a key value, never archived ones",
        run: |h| Box::pin(records::find(h)),
    },
    Check {
        name: "paging",
        promise: "a full listing yields every record once, within the page size, one call a page",
        run: |h| Box::pin(records::paging(h)),
    },
    Check {
        name: "read_batches",
        promise: "reads keep to the read batch and use the fewest calls, answers in order",
        run: |h| Box::pin(records::read_batches(h)),
    },
    Check {
        name: "write_batches",
        promise: "writes keep to the write batch and use the fewest calls, outcomes in order",
        run: |h| Box::pin(records::write_batches(h)),
    },
    Check {
        name: "per_record_failures",
        promise: "an update of a missing record fails alone, as not found",
        run: |h| Box::pin(records::missing_record(h)),
    },
    Check {
        name: "invalid_value",
        promise: "a refused value fails its own write naming the field, the others succeed",
        run: |h| Box::pin(records::invalid_value(h)),
    },
    Check {
        name: "unique_conflict",
        promise: "a write colliding on the unique match value fails as a conflict naming the holder",
        run: |h| Box::pin(records::unique_conflict(h)),
    },
    Check {
        name: "rate_limit_recovery",
        promise: "rate-limit refusals are waited out and the call succeeds",
        run: |h| Box::pin(faults::rate_limit_recovery(h)),
    },
    Check {
        name: "credential_expiry",
        promise: "expired credentials are renewed without the caller noticing",
        run: |h| Box::pin(faults::credential_expiry(h)),
    },
    Check {
        name: "health_check",
        promise: "the health check passes and costs at most one call",
        run: |h| Box::pin(faults::health_check(h)),
    },
    Check {
        name: "webhook_signature",
        promise: "a genuine webhook verifies and parses; changed, unsigned and malformed ones are refused",
        run: |h| Box::pin(webhooks::signature(h)),
    },
    Check {
        name: "webhook_url_bound",
        promise: "a signature made for one URL is refused at another",
        run: |h| Box::pin(webhooks::url_bound(h)),
    },
    Check {
        name: "webhook_replay_window",
        promise: "a signature older than the replay window is refused, a recent one accepted",
        run: |h| Box::pin(webhooks::replay_window(h)),
    },
];

/// The check of [`CHECKS`] with this name.
pub fn check_named(name: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|check| check.name == name)
}

/// Runs one check on `harness`. A panic inside the check or the harness is a failure.
pub async fn run_one(check: &Check, harness: &dyn ConformanceHarness) -> Outcome {
    match AssertUnwindSafe((check.run)(harness)).catch_unwind().await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(Broken(promise))) => Outcome::Failed(promise),
        Err(panic) => Outcome::Failed(format!("panicked: {}", panic_text(&*panic))),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a non-text panic".to_owned())
}

/// Runs every check of [`CHECKS`], each on a harness fresh from `start`, one after another.
pub async fn run<H, F, Fut>(start: F) -> Report
where
    H: ConformanceHarness,
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
{
    let mut results = Vec::with_capacity(CHECKS.len());
    for check in CHECKS {
        let harness = start().await;
        results.push((check.name, run_one(check, &harness).await));
    }
    Report { results }
}

/// How each check went, printable as a table with counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Each check's name and outcome, in run order.
    pub results: Vec<(&'static str, Outcome)>,
}

impl Report {
    fn named(&self, wanted: fn(&Outcome) -> bool) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, outcome)| wanted(outcome))
            .map(|(name, _)| *name)
            .collect()
    }

    /// The checks that passed.
    pub fn passed(&self) -> Vec<&'static str> {
        self.named(|o| matches!(o, Outcome::Passed))
    }

    /// The checks that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.named(|o| matches!(o, Outcome::Failed(_)))
    }

    /// The checks that did not apply.
    pub fn not_applicable(&self) -> Vec<&'static str> {
        self.named(|o| matches!(o, Outcome::NotApplicable(_)))
    }

    /// The outcome of the named check, when it ran.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, outcome)| outcome)
    }

    /// Panics with the table unless no check failed.
    pub fn assert_no_failures(&self) {
        assert!(self.failed().is_empty(), "conformance failed:\n{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.results.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, outcome) in &self.results {
            let (verdict, detail) = match outcome {
                Outcome::Passed => ("passed", ""),
                Outcome::Failed(why) => ("FAILED", why.as_str()),
                Outcome::NotApplicable(why) => ("n/a", why.as_str()),
            };
            writeln!(f, "{name:<width$}  {verdict:<6}  {detail}")?;
        }
        write!(
            f,
            "{} passed, {} failed, {} not applicable",
            self.passed().len(),
            self.failed().len(),
            self.not_applicable().len()
        )
    }
}
