//! Test support for connectors (feature `testkit`): the conformance kit every CRM connector
//! must pass against its simulator, and an in-memory token store.

pub mod conformance;
mod tokens;

pub use conformance::{
    CallCounts, CapturedWebhook, ConformanceHarness, KitFields, KitLimits, MatchField, Outcome,
    Report, SignatureScheme,
};
pub use tokens::MemoryTokenStore;
