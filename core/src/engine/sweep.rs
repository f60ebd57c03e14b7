//! A backlog of 10to8 notifications read by listing instead of one GET each.
//!
//! 10to8 notifies every change, ours included, with the customer's URI only. After a large
//! pass the inbox holds one notification per customer written; reading them one GET each costs
//! as many calls. When more are waiting than a scan of the whole customer list costs (pages of
//! `tte.page_size`; 10to8 has no modified-since filter), the live worker claims them all and
//! reads the list instead: each page's customers that have a notification waiting are synced
//! as a live batch (the snapshot rule still decides; an echo writes nothing), with the page's
//! copy in place of a GET. What the list did not show (deleted customers) is read one by one
//! afterwards.
//!
//! Only linked customers' notifications are read so (the echoes a pass leaves are theirs); a
//! customer new in 10to8 stays on the normal path, where it meets the CRM's news of the same
//! person in one batch.
//!
//! While a full pass runs, no scan starts (each of its writes adds a notification; one scan
//! after it reads them all); batches go on as usual meanwhile.
//!
//! Live edits do not queue behind the scan: before each page, a waiting customer that got a
//! new notification since it was claimed is handed back to the normal path, and every change
//! due (CRM events, fresh notifications) is processed first.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tracing::{info, warn};

use super::live::{LEASE, LIVE_BATCH, LiveSummary};
use super::lock::{Claimant, SyncLock};
use super::reconcile::RECONCILE_LOCK_PREFIX;
use super::{Engine, EngineError};
use crate::record::Customer;
use crate::store::{InboxItem, Side};

/// How a backlog of 10to8 notifications is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backlog {
    /// Fewer than a list scan costs: one GET each.
    Small,
    /// More than a list scan costs: list.
    List,
    /// More than a list scan costs, while a full pass writes (and each write comes back as a
    /// notification): the scan waits for the pass to end; batches go on as usual.
    AfterThePass,
}

/// Live batches run before each page at most (so a burst of edits cannot stall the scan).
const BATCHES_BETWEEN_PAGES: usize = 4;
/// What the lease allows per page on top of the pacer's spacing (the page's sync).
const PER_PAGE: Duration = Duration::from_secs(2);

impl Engine {
    /// How the waiting 10to8 notifications are best read: one GET each, or by listing when
    /// that costs fewer calls (after the running full pass, if one writes).
    ///
    /// # Errors
    /// Fails only when the store cannot be read.
    pub(super) async fn hub_backlog(&self) -> Result<Backlog, EngineError> {
        let connector = self.connector();
        let waiting = self
            .store
            .count_ready_linked_on(connector, Side::Hub)
            .await?;
        if waiting <= self.list_pages().await? {
            return Ok(Backlog::Small);
        }
        let pass = format!("{RECONCILE_LOCK_PREFIX}{connector}");
        let running = self
            .store
            .lock_holder(&pass)
            .await?
            .is_some_and(|(_, until)| until > Utc::now());
        Ok(if running {
            Backlog::AfterThePass
        } else {
            Backlog::List
        })
    }

    /// What a scan of 10to8's customer list costs, in pages: one per `tte.page_size` linked
    /// customers (10to8 says nothing of how many it has before the scan).
    async fn list_pages(&self) -> Result<u64, EngineError> {
        let page_size = u64::from(self.tte.page_size().max(1));
        let linked = self.store.count_links(self.connector()).await?;
        Ok(linked.div_ceil(page_size).max(1))
    }

    /// Claims every waiting 10to8 notification and reads them by listing the customers.
    ///
    /// # Errors
    /// Fails only when the store cannot be used; a list page that cannot be read hands the
    /// notifications back to the normal path.
    pub(super) async fn sweep_hub_backlog(
        &self,
        worker: &str,
    ) -> Result<Option<LiveSummary>, EngineError> {
        let connector = self.connector();
        let waiting = self
            .store
            .count_ready_linked_on(connector, Side::Hub)
            .await?;
        let pages = self.list_pages().await?;
        if waiting <= pages {
            return Ok(None);
        }
        let sweeper = format!("{worker}-list");
        let pages_u32 = u32::try_from(pages).unwrap_or(u32::MAX);
        let lease = LEASE + (self.tte.limiter().interval() + PER_PAGE) * pages_u32;
        let limit = u32::try_from(waiting).unwrap_or(u32::MAX);
        let claimed = (self.store)
            .claim_linked_on(&sweeper, connector, Side::Hub, limit, lease)
            .await?;
        info!(
            notifications = claimed.len(),
            pages, "Reading a backlog of 10to8 notifications by listing the customers."
        );
        let mut held: HashMap<String, InboxItem> = claimed
            .into_iter()
            .map(|item| (item.object.object_id.clone(), item))
            .collect();
        let mut total = LiveSummary::default();
        let mut list = self.tte.list(false);
        let mut pages_left = pages;
        loop {
            self.hand_back_changed(&sweeper, &mut held).await?;
            for _ in 0..BATCHES_BETWEEN_PAGES {
                let batch = self.live_batch(worker).await?;
                total.add(&batch);
                if batch.processed == 0 {
                    break;
                }
            }
            if (held.len() as u64) < pages_left {
                // Fewer left than the rest of the list costs: read those one by one.
                break;
            }
            pages_left = pages_left.saturating_sub(1).max(1);
            let page = match list.next().await {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(error)) => {
                    warn!(%error, "Could not list 10to8's customers; the notifications are read one by one instead.");
                    self.store.release(&sweeper).await?;
                    return Ok(Some(total));
                }
            };
            let mut items = Vec::new();
            let mut listed: HashMap<String, Customer> = HashMap::new();
            for customer in page {
                if let Some(item) = held.remove(&customer.resource_uri) {
                    items.push(item);
                    listed.insert(customer.resource_uri.clone(), customer);
                }
            }
            if !items.is_empty() {
                total.add(&self.sync_items(&items, &listed).await?);
                self.save_pace(false).await;
            }
        }
        // Not on the list (deleted, or created after its page was read), or fewer than the rest
        // of the list costs: one GET each.
        let rest: Vec<InboxItem> = held.into_values().collect();
        for chunk in rest.chunks(LIVE_BATCH as usize) {
            total.add(&self.sync_items(chunk, &HashMap::new()).await?);
        }
        Ok(Some(total))
    }

    /// One normal live batch (claimed as `worker`) under the sync lock.
    async fn live_batch(&self, worker: &str) -> Result<LiveSummary, EngineError> {
        if !self.store.has_ready().await? {
            return Ok(LiveSummary::default());
        }
        let lock = SyncLock::acquire(&self.store, self.connector(), Claimant::Live).await?;
        let summary = self.process_batch(worker, &lock).await;
        lock.release().await;
        summary
    }

    /// Syncs claimed `items` under the sync lock, with the `listed` customers in place of GETs.
    async fn sync_items(
        &self,
        items: &[InboxItem],
        listed: &HashMap<String, Customer>,
    ) -> Result<LiveSummary, EngineError> {
        let lock = SyncLock::acquire(&self.store, self.connector(), Claimant::Live).await?;
        let result = self.process_items(items, &lock, listed).await;
        lock.release().await;
        self.settle(items, result).await
    }

    /// Hands back to the normal path the held items that got a new notification since they
    /// were claimed (a live edit): completing them leaves them queued and due now.
    async fn hand_back_changed(
        &self,
        sweeper: &str,
        held: &mut HashMap<String, InboxItem>,
    ) -> Result<(), EngineError> {
        let changed = self.store.changed_while_claimed(sweeper).await?;
        if changed.is_empty() {
            return Ok(());
        }
        let mut back = Vec::new();
        held.retain(|_, item| {
            let edited = changed.contains(&item.id);
            if edited {
                back.push(item.clone());
            }
            !edited
        });
        self.store.complete_all(&back).await?;
        Ok(())
    }
}
