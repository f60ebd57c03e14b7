//! Test support for connectors (feature `testkit`): the conformance kit every CRM connector
//! must pass against its simulator, the engine's crash test for any connector with a
//! registered simulator (with feature `simulator` too), and an in-memory token store.

pub mod conformance;
#[cfg(feature = "simulator")]
pub mod crash;
mod tokens;

pub use conformance::{
    CallCounts, CapturedWebhook, ConformanceHarness, KitFields, KitLimits, MatchField, Outcome,
    Report, SignatureScheme,
};
pub use tokens::MemoryTokenStore;
