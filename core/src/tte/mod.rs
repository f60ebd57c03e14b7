//! 10to8, the hub every CRM syncs with: its Enterprise API v2 client and (feature `simulator`)
//! an in-memory simulator of that API.
//!
//! - [`config`]: where the API is and how fast to call it ([`TteConfig`]).
//! - [`client`]: [`TteClient`] — list, get, create, patch and delete customers; manage
//!   notification subscriptions; pacing, retries and error kinds built in.
//! - [`types`]: what the client writes and reads besides [`Customer`](crate::record::Customer).
//! - `simulator` (feature `simulator`): the simulated API with its `/_sim/` admin API.
//!
//! Every path sits under [`API_PATH`]; a customer is identified by its absolute URI, compared
//! byte for byte (see [`CustomerUri`](crate::record::CustomerUri)).

pub mod client;
pub mod config;
mod error;
pub mod types;

#[cfg(feature = "simulator")]
pub mod simulator;

pub use client::{API_NAME, TteClient};
pub use config::TteConfig;
pub use error::{TteError, TteResult};
pub use types::{CustomerPatch, CustomerWrite, DeleteOutcome, Notification, Subscription};

/// Where the Enterprise API v2 sits under the host.
pub const API_PATH: &str = "/api/enterprise/v2";
/// The customer collection under [`API_PATH`].
pub const CUSTOMER_PATH: &str = "/api/enterprise/v2/customer/";
/// The subscription collection under [`API_PATH`].
pub const SUBSCRIPTION_PATH: &str = "/api/enterprise/v2/subscription/";
/// The one subscription scope 10to8 is known to offer.
pub const SCOPE_CUSTOMER: &str = "customer";
/// The message of a delete refused because the customer has future bookings.
pub const DELETE_BLOCKED: &str = "delete blocked: future bookings";
