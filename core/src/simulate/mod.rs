//! What both simulators share: realistic generated people and serving a router on loopback.
//!
//! The 10to8 simulator lives in [`crate::tte`]'s `simulator` module and each CRM's in its
//! connector crate; all seed from [`people`], so the same seed number and index give
//! the same person (and the same emails) on both sides — which is how "customers and contacts
//! sharing an email" are made.

mod people;
mod serve;

pub use people::{Person, SplitMix64, people};
pub use serve::{ServedRouter, serve_on_loopback};
