//! The stop of a pass whose API throttled or was down for longer than the stall budget
//! (`sync.max_stall_secs`), or whose daily call budget is spent: [`Stalled`]. It is no fault of
//! any record, so nothing was recorded against one; what the pass wrote before is kept, and
//! the same work succeeds once the API answers again.

use std::fmt;
use std::time::Duration;

use crate::connector::ErrorKind;

/// Why the API could not be waited out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StallCause {
    /// It kept refusing calls with 429.
    Throttled,
    /// Its daily call budget is spent.
    DailyLimit,
    /// It kept failing: 5xx answers, timeouts, lost connections.
    Down,
}

impl StallCause {
    /// The stall cause behind an error kind, when it is a passing one.
    pub fn of(kind: &ErrorKind) -> Option<Self> {
        match kind {
            ErrorKind::RateLimited { daily: true, .. } => Some(Self::DailyLimit),
            ErrorKind::RateLimited { .. } => Some(Self::Throttled),
            ErrorKind::Transient => Some(Self::Down),
            _ => None,
        }
    }
}

/// A pass (or live batch) stopped because an API could not be waited out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    /// The API, as people name it (`10to8`, or the CRM connector's name).
    pub api: String,
    /// Why.
    pub cause: StallCause,
    /// The API's last answer, as its client reported it.
    pub last_error: String,
    /// How long until the API expects to answer again, when it said (the daily limit's
    /// reset).
    pub resume_after: Option<Duration>,
}

impl Stalled {
    /// The stop for an error of kind `kind` from `api`, when the kind is a passing one.
    pub(crate) fn of(api: &str, kind: &ErrorKind, last_error: String) -> Option<Self> {
        let cause = StallCause::of(kind)?;
        let resume_after = match kind {
            ErrorKind::RateLimited {
                retry_after,
                daily: true,
            } => *retry_after,
            _ => None,
        };
        Some(Self {
            api: api.to_owned(),
            cause,
            last_error,
            resume_after,
        })
    }
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = &self.api;
        match self.cause {
            StallCause::Throttled => write!(
                f,
                "{api} throttled every call for longer than sync.max_stall_secs allows"
            )?,
            StallCause::Down => write!(
                f,
                "{api} was down (failing or not answering) for longer than sync.max_stall_secs allows"
            )?,
            StallCause::DailyLimit => write!(f, "{api}'s daily API limit is spent")?,
        }
        write!(
            f,
            " (last: {}); stopped with nothing recorded against any record, and what was written is kept: run it again to resume",
            self.last_error
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_kinds_stall_and_the_message_says_what_next() {
        let throttled = ErrorKind::RateLimited {
            retry_after: None,
            daily: false,
        };
        let stalled = Stalled::of("10to8", &throttled, "10to8 answered 429".into()).unwrap();
        assert_eq!(
            stalled.to_string(),
            "10to8 throttled every call for longer than sync.max_stall_secs allows (last: 10to8 \
             answered 429); stopped with nothing recorded against any record, and what was \
             written is kept: run it again to resume"
        );
        let daily = ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
            daily: true,
        };
        let stalled = Stalled::of("the CRM", &daily, "spent".into()).unwrap();
        assert_eq!(stalled.cause, StallCause::DailyLimit);
        assert_eq!(stalled.resume_after, Some(Duration::from_secs(60)));
        assert_eq!(
            Stalled::of("x", &ErrorKind::Transient, String::new()).map(|s| s.cause),
            Some(StallCause::Down)
        );
        assert!(Stalled::of("x", &ErrorKind::Unauthorized, String::new()).is_none());
        assert!(Stalled::of("x", &ErrorKind::Invalid { field: None }, String::new()).is_none());
    }
}
