//! The heart of tte-sync: everything that does not name a concrete CRM.
//!
//! - [`connector`]: the contract a CRM connector implements, its capabilities and the
//!   plugin registry connectors join with `inventory::submit!`.
//! - [`record`]: the records that cross the contract — 10to8 customers and CRM records.
//! - [`secret`]: a string that never prints itself.
//! - `simulate` (feature `simulator`): generated people and loopback serving for the simulators.
//! - `testkit` (feature `testkit`): the connector conformance suite and an in-memory token store.
//!
//! Dependencies point one way: the host binary links connectors, connectors link this crate,
//! and this crate never names a concrete CRM.

pub mod connector;
pub mod record;
pub mod secret;
#[cfg(feature = "simulator")]
pub mod simulate;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use connector::{ConnectorError, ErrorKind};
pub use record::{CrmId, CrmRecord, Customer, CustomerUri};
pub use secret::Secret;
