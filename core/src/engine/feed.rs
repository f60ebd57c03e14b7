//! Pulling a connector's [`ChangeFeed`](crate::connector::ChangeFeed) into the inbox ([`Engine::pull_changes`]): read the
//! changes after the stored cursor, queue them like webhook events (our own echoes dropped),
//! and only then save the new cursor, so a crash in between re-reads a page instead of losing
//! one. A cursor the CRM no longer serves is answered with a full reconcile, after which the
//! feed starts again from now.

use tracing::{debug, warn};

use super::{Engine, EngineError, ReconcileOptions, Summary};
use crate::connector::ErrorKind;

/// What one pull did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Pulled {
    /// Events the feed returned.
    pub received: u64,
    /// Of those, our own writes, dropped.
    pub echoes: u64,
    /// Whether more changes are waiting (pull again at once).
    pub more: bool,
    /// The full reconcile run because the cursor had expired, when one ran.
    pub caught_up_by_reconcile: Option<Summary>,
}

/// The store setting holding a connector's feed cursor.
pub fn cursor_setting(connector: &str) -> String {
    format!("feed.{connector}.cursor")
}

impl Engine {
    /// Pulls one page of the connector's change feed into the inbox; does nothing when the
    /// connector has no feed.
    ///
    /// # Errors
    /// Fails when the feed or the store fails; an expired cursor is not an error (a full
    /// reconcile runs instead), but a failing reconcile is.
    pub async fn pull_changes(&self) -> Result<Pulled, EngineError> {
        let Some(feed) = self.crm.change_feed() else {
            return Ok(Pulled::default());
        };
        let key = cursor_setting(self.connector());
        let cursor = self.store.setting(&key).await?;
        let page = match feed.pull(cursor.as_deref()).await {
            Ok(page) => page,
            Err(error) if *error.kind() == ErrorKind::CursorExpired => {
                warn!(
                    connector = self.connector(),
                    mode = feed.mode(),
                    %error,
                    "The change feed lost track; running a full reconcile to catch up."
                );
                // Start from now first: changes made during the reconcile are then read too.
                self.store.delete_setting(&key).await?;
                let restart = feed.pull(None).await?;
                if let Some(cursor) = &restart.cursor {
                    self.store.set_setting(&key, cursor, None).await?;
                }
                let summary = self.reconcile(&ReconcileOptions::default()).await?;
                return Ok(Pulled {
                    caught_up_by_reconcile: Some(summary),
                    ..Pulled::default()
                });
            }
            Err(error) => return Err(error.into()),
        };
        let received = page.events.len() as u64;
        let (queued, echoes) = if page.events.is_empty() {
            (Default::default(), 0)
        } else {
            self.enqueue_crm_events(&page.events).await?
        };
        if let Some(next) = &page.cursor
            && cursor.as_ref() != Some(next)
        {
            self.store.set_setting(&key, next, None).await?;
        }
        debug!(
            received,
            echoes,
            new = queued.inserted,
            more = page.more,
            "Pulled CRM changes."
        );
        Ok(Pulled {
            received,
            echoes,
            more: page.more,
            caught_up_by_reconcile: None,
        })
    }
}
