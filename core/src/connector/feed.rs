//! Pulled change capture: changes the host asks the CRM for, from a durable cursor, instead
//! of waiting for webhooks — a journal the CRM keeps of its webhook events, or polling
//! by modification time. Either needs no public URL.
//!
//! The host keeps the cursor in the state store: it reads a page of changes after the
//! cursor, queues them in the inbox like webhook events, and only then saves the page's
//! cursor, so a crash between the two re-reads that page (the inbox coalesces the repeats)
//! and never loses one.

use std::time::Duration;

use async_trait::async_trait;

use super::SetupReport;
use super::error::Result;
use super::webhook::ChangeEvent;

/// A CRM's changes, pulled from a cursor.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// What the feed is, as the dashboard and `status` name it, e.g. `webhooks journal` or
    /// `polling`.
    fn mode(&self) -> &'static str;

    /// How long to wait before pulling again once a pull said it is caught up.
    fn idle_interval(&self) -> Duration;

    /// Makes the CRM ready to feed changes of these properties (e.g. journal subscriptions
    /// per account). Idempotent; a dry run only reports.
    ///
    /// # Errors
    /// Fails when the CRM cannot be reached or refuses the credentials.
    async fn prepare(&self, properties: &[String], dry_run: bool) -> Result<SetupReport> {
        let _ = (properties, dry_run);
        Ok(SetupReport::default())
    }

    /// The changes after `cursor` (from now on when `None`: a first start does not replay
    /// history, the first reconcile covers it).
    ///
    /// # Errors
    /// [`ErrorKind::CursorExpired`](super::ErrorKind::CursorExpired) when the CRM no longer
    /// keeps changes that old (the host then runs a full reconcile and starts again from
    /// now); otherwise as any call fails.
    async fn pull(&self, cursor: Option<&str>) -> Result<FeedPage>;
}

/// One pull's worth of changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    /// The changes, oldest first. Our own writes may be among them; the engine drops those
    /// it can tell, and the snapshot rule the rest.
    pub events: Vec<ChangeEvent>,
    /// The cursor to save once the events are queued; `None` keeps the one given.
    pub cursor: Option<String>,
    /// Whether more changes are waiting (pull again at once).
    pub more: bool,
}
