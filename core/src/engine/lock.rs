//! The sync lock: one writer per connector at a time, across workers, processes and replicas.
//!
//! A live batch reads records, plans against the stored links and writes; two batches
//! interleaving could each plan from what the other is about to change (and link one record
//! twice). So a batch holds the store's named lock `sync:<connector>` while it works, renewed
//! in the background and released at the end; a holder that dies loses it when it expires.
//! Serialising costs little: the CRM's rate limit is per account, so replicas running batches
//! side by side would only share one budget. Replicas add availability.
//!
//! A full pass reads everything without the lock (that takes a while) and takes it per chunk
//! of writes, checking each chunk against the links as they are now (see `turns`); a pass
//! with nothing to write never takes it. So live batches wait for at most one chunk. For the
//! pass not to be starved by batches following each other back to back, a chunk first takes
//! the turnstile `sync-next:<connector>`, which new live batches wait behind: batches and
//! chunks take turns. One full pass at a time runs per connector, under the lock
//! `reconcile:<connector>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::store::{Store, StoreError};

/// How long a lock lasts without renewal: how long a crashed holder blocks the others.
const TTL: Duration = Duration::from_secs(10);
/// How often a holder renews.
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// After waiting this long, a waiter says whom it waits for.
const SAY_AFTER: Duration = Duration::from_secs(2);
/// How often a waiter tries again.
const POLL: Duration = Duration::from_millis(25);

/// Who wants the sync lock: decides who waits for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimant {
    /// A chunk of a full pass: takes the turnstile first, so that live batches let it in.
    Background,
    /// A live batch: waits while a background chunk holds the turnstile.
    Live,
}

/// A held sync lock. Release it with [`SyncLock::release`]; dropping it releases it in the
/// background.
pub(crate) struct SyncLock {
    store: Store,
    names: Vec<String>,
    holder: String,
    lost: Arc<AtomicBool>,
    renewal: Option<JoinHandle<()>>,
}

impl SyncLock {
    /// Waits until `claimant` holds the sync lock of `connector`.
    pub(crate) async fn acquire(
        store: &Store,
        connector: &str,
        claimant: Claimant,
    ) -> Result<Self, StoreError> {
        let holder = unique_holder();
        let main = format!("sync:{connector}");
        let turnstile = format!("sync-next:{connector}");
        let mut names = Vec::with_capacity(2);
        let mut waiting = Waiting::new(store, &main);
        if claimant == Claimant::Background {
            while !store.acquire_lock(&turnstile, &holder, TTL).await? {
                waiting.pause().await;
            }
            names.push(turnstile.clone());
        }
        loop {
            let may_try =
                claimant == Claimant::Background || store.lock_holder(&turnstile).await?.is_none();
            if may_try && store.acquire_lock(&main, &holder, TTL).await? {
                break;
            }
            waiting.pause().await;
        }
        names.push(main);
        Ok(Self::held(store, names, holder))
    }

    /// Waits until this process holds the plain lock `name` (no turnstile, no yielding).
    pub(crate) async fn exclusive(store: &Store, name: String) -> Result<Self, StoreError> {
        let holder = unique_holder();
        let mut waiting = Waiting::new(store, &name);
        while !store.acquire_lock(&name, &holder, TTL).await? {
            waiting.pause().await;
        }
        Ok(Self::held(store, vec![name], holder))
    }

    fn held(store: &Store, names: Vec<String>, holder: String) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            store.clone(),
            names.clone(),
            holder.clone(),
            lost.clone(),
        ));
        Self {
            store: store.clone(),
            names,
            holder,
            lost,
            renewal: Some(renewal),
        }
    }

    /// A flag that turns true when the lock expired under us (the store could not be reached
    /// to renew it for longer than its lifetime, and someone else may hold it now). Whoever
    /// writes under the lock checks it before saving.
    pub(crate) fn lost_flag(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }

    /// Releases the lock.
    pub(crate) async fn release(mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        release_all(&self.store, &self.names, &self.holder).await;
    }
}

impl Drop for SyncLock {
    fn drop(&mut self) {
        let Some(renewal) = self.renewal.take() else {
            return;
        };
        // Dropped on an error path: release without making the caller wait.
        renewal.abort();
        let (store, names, holder) = (
            self.store.clone(),
            std::mem::take(&mut self.names),
            self.holder.clone(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { release_all(&store, &names, &holder).await });
        }
    }
}

/// A waiter's pauses; past [`SAY_AFTER`] it logs once who holds the lock.
struct Waiting<'a> {
    store: &'a Store,
    name: &'a str,
    since: Instant,
    said: bool,
}

impl<'a> Waiting<'a> {
    fn new(store: &'a Store, name: &'a str) -> Self {
        Self {
            store,
            name,
            since: Instant::now(),
            said: false,
        }
    }

    async fn pause(&mut self) {
        if !self.said && self.since.elapsed() >= SAY_AFTER {
            self.said = true;
            if let Ok(Some((holder, until))) = self.store.lock_holder(self.name).await {
                info!(
                    lock = self.name,
                    %holder,
                    %until,
                    "Waiting for the sync lock: another sync is running (a crashed one's lock expires by itself)."
                );
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn renew(store: Store, names: Vec<String>, holder: String, lost: Arc<AtomicBool>) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let mut all = true;
        for name in &names {
            match store.acquire_lock(name, &holder, TTL).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(
                        lock = name,
                        "The sync lock expired and was taken by another worker."
                    );
                    lost.store(true, Ordering::Relaxed);
                    return;
                }
                Err(error) => {
                    warn!(lock = name, %error, "Could not renew the sync lock.");
                    all = false;
                }
            }
        }
        if all {
            renewed = Instant::now();
        } else if renewed.elapsed() >= TTL {
            lost.store(true, Ordering::Relaxed);
        }
    }
}

async fn release_all(store: &Store, names: &[String], holder: &str) {
    for name in names.iter().rev() {
        if let Err(error) = store.release_lock(name, holder).await {
            warn!(lock = name, %error, "Could not release the sync lock; it expires by itself.");
        }
    }
}

/// A holder name no other worker, process or host uses at the same time.
fn unique_holder() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{}-{started:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SQLITE_MEMORY;

    async fn store() -> Store {
        Store::open(SQLITE_MEMORY).await.expect("store")
    }

    #[tokio::test]
    async fn a_second_claimant_waits_until_the_first_releases() {
        let store = store().await;
        let first = SyncLock::acquire(&store, "crm", Claimant::Live)
            .await
            .expect("lock");
        let waiter = tokio::spawn({
            let store = store.clone();
            async move {
                let lock = SyncLock::acquire(&store, "crm", Claimant::Live)
                    .await
                    .expect("lock");
                lock.release().await;
            }
        });
        tokio::time::sleep(POLL * 8).await;
        assert!(!waiter.is_finished(), "the lock is held");
        first.release().await;
        waiter.await.expect("the waiter gets it once released");
    }

    #[tokio::test]
    async fn a_waiting_background_chunk_goes_before_later_live_batches() {
        let store = store().await;
        let live = SyncLock::acquire(&store, "crm", Claimant::Live)
            .await
            .expect("lock");
        let reconcile = tokio::spawn({
            let store = store.clone();
            async move { SyncLock::acquire(&store, "crm", Claimant::Background).await }
        });
        // Once the chunk holds the turnstile, a new live batch waits behind it.
        while store
            .lock_holder("sync-next:crm")
            .await
            .expect("holder")
            .is_none()
        {
            tokio::time::sleep(POLL).await;
        }
        let next_live = tokio::spawn({
            let store = store.clone();
            async move { SyncLock::acquire(&store, "crm", Claimant::Live).await }
        });
        live.release().await;
        let reconcile = reconcile.await.expect("task").expect("lock");
        tokio::time::sleep(POLL * 8).await;
        assert!(!next_live.is_finished(), "the reconcile holds the lock");
        reconcile.release().await;
        next_live
            .await
            .expect("task")
            .expect("lock")
            .release()
            .await;
    }

    #[tokio::test]
    async fn locks_of_different_connectors_are_independent() {
        let store = store().await;
        let a = SyncLock::acquire(&store, "a", Claimant::Background)
            .await
            .expect("lock");
        let b = SyncLock::acquire(&store, "b", Claimant::Live)
            .await
            .expect("lock");
        assert!(!a.lost_flag().load(Ordering::Relaxed));
        assert!(!b.lost_flag().load(Ordering::Relaxed));
        a.release().await;
        b.release().await;
        assert!(store.lock_holder("sync:a").await.expect("holder").is_none());
    }
}
