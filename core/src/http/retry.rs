//! Retry timing: exponential backoff with jitter, and what a server says in `Retry-After`.

use std::time::Duration;

use backon::ExponentialBuilder;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use http::header::RETRY_AFTER;

/// How often and how patiently to retry a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: usize,
    /// The delay before the first retry; each later one doubles it.
    pub min_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The `backon` builder for this policy: exponential, factor 2, with jitter.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// How long the server asked us to wait, from a `Retry-After` header holding either
/// delta-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`). A date in the past
/// reads as zero; a missing or unreadable header as `None`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers("1.5")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = retry_after(&headers(&later)).unwrap();
        assert!(wait > Duration::from_secs(60) && wait <= Duration::from_secs(90));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&headers("-3")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_stops_after_max_retries_and_stays_under_twice_the_cap() {
        let policy = RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        };
        let delays: Vec<_> = policy.backoff().build().collect();
        assert_eq!(delays.len(), 4);
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(10)));
        assert!(delays.iter().all(|d| *d < Duration::from_millis(80)));
    }
}
