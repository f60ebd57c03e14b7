//! The HTTP toolkit every API client in tte-sync shares: one retry loop ([`Sender`]) with
//! exponential backoff and jitter ([`RetryPolicy`]) that waits out passing failures for as long
//! as the stall budget allows ([`Patience`]), a [`Pacer`] hook for each API's rate limiting (the
//! adaptive [`AdaptiveLimiter`] for 10to8; a connector plugs in its own), `Retry-After` parsing
//! ([`retry_after`]), the mapping of HTTP statuses and `reqwest` errors onto the
//! [`ErrorKind`](crate::connector::ErrorKind) the engine acts on ([`classify_status`],
//! [`classify_reqwest`]), the board of APIs being waited on for the progress display
//! ([`waits`]), and process-wide call counters per service for the host's metrics ([`stats`]).
//!
//! Nothing here knows a particular API; each client says how to build a call and what an
//! answer means ([`Attempt`]).

mod classify;
mod limiter;
mod patience;
mod retry;
mod send;
pub mod stats;
pub mod waits;

pub use classify::{classify_reqwest, classify_status};
pub use limiter::{AdaptiveLimiter, LearnedPace};
pub use patience::{DEFAULT_MAX_STALL, Patience, max_stall, set_max_stall};
pub use retry::{RetryPolicy, retry_after};
pub use send::{Attempt, Pacer, Sender, Tries, Unpaced};
pub use waits::Cause;
