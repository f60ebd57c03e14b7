//! Small HTTP helpers every API client in tte-sync shares: retry with exponential backoff and
//! jitter ([`RetryPolicy`]) for as long as the stall budget allows ([`Patience`]), `Retry-After` parsing ([`retry_after`]), an adaptive request pacer
//! that slows down when an API throttles ([`AdaptiveLimiter`]), and the mapping of HTTP
//! statuses and `reqwest` errors onto the [`ErrorKind`](crate::connector::ErrorKind) the engine
//! acts on ([`classify_status`], [`classify_reqwest`]), and process-wide call counters per
//! service for the host's metrics ([`stats`]).
//!
//! Nothing here knows a particular API; each client builds its own request loop from these
//! pieces.

mod classify;
mod limiter;
mod patience;
mod retry;
pub mod stats;

pub use classify::{classify_reqwest, classify_status};
pub use limiter::{AdaptiveLimiter, LearnedPace};
pub use patience::{DEFAULT_MAX_STALL, Patience, max_stall, set_max_stall};
pub use retry::{RetryPolicy, retry_after};
