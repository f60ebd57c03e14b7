//! The heart of tte-sync: everything that does not name a concrete CRM.
//!
//! - [`connector`]: the contract a CRM connector implements, its capabilities and the
//!   plugin registry connectors join with `inventory::submit!`.
//! - [`engine`]: the sync engine — planning, pairing, the full reconcile pass.
//! - [`mapping`]: the declarative field mapping, compiled once with diagnostics, applied both ways.
//! - [`record`]: the records that cross the contract — 10to8 customers and CRM records.
//! - [`secret`]: a string that never prints itself, and what output may show of URLs with a
//!   password and of config values.
//! - [`http`]: retry, backoff, `Retry-After`, adaptive pacing and error classification shared
//!   by the API clients.
//! - [`tte`]: the 10to8 Enterprise API client (and, with feature `simulator`, its simulator).
//! - [`store`]: the durable state over SQLite or PostgreSQL — links, inbox, dead letters,
//!   tokens, runs, record status and activity.
//! - `simulate` (feature `simulator`): generated people and loopback serving for the simulators.
//! - `testkit` (feature `testkit`): the connector conformance suite and an in-memory token store.
//!
//! Dependencies point one way: the host binary links connectors, connectors link this crate,
//! and this crate never names a concrete CRM.

pub mod connector;
pub mod engine;
pub mod http;
pub mod mapping;
pub mod record;
pub mod secret;
#[cfg(feature = "simulator")]
pub mod simulate;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tte;

pub use connector::{ConnectorError, ErrorKind};
pub use record::{CrmId, CrmRecord, Customer, CustomerUri};
pub use secret::Secret;
