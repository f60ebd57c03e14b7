//! The sync lock: one writer per connector at a time, across workers, processes and replicas.
//!
//! A full pass and a live batch both read records, plan against the stored links and then
//! write; two of them interleaving could each plan from what the other is about to change
//! (a reconcile holding a stale copy would undo a live edit, two batches would link one record
//! twice). So every pass and batch holds the store's named lock `sync:<connector>` while it
//! works, renewed in the background and released at the end; a holder that dies loses it when
//! it expires. Serialising costs little: the CRM's rate limit is per account, so replicas
//! running batches side by side would only share the same budget. Replicas add availability.
//!
//! A reconcile waiting for the lock would never get it while live batches follow each other
//! back to back, so it first takes a second lock, the turnstile `sync-next:<connector>`, and
//! live batches do not start while someone else holds that.

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

/// Who wants the lock: decides whether it waits behind the turnstile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimant {
    /// A full pass: takes the turnstile first so live batches let it in.
    Reconcile,
    /// A live batch: waits while a reconcile holds the turnstile.
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
        if claimant == Claimant::Reconcile {
            while !store.acquire_lock(&turnstile, &holder, TTL).await? {
                waiting.pause().await;
            }
            names.push(turnstile.clone());
        }
        loop {
            let may_try =
                claimant == Claimant::Reconcile || store.lock_holder(&turnstile).await?.is_none();
            if may_try && store.acquire_lock(&main, &holder, TTL).await? {
                break;
            }
            waiting.pause().await;
        }
        names.push(main);
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            store.clone(),
            names.clone(),
            holder.clone(),
            lost.clone(),
        ));
        Ok(Self {
            store: store.clone(),
            names,
            holder,
            lost,
            renewal: Some(renewal),
        })
    }

    /// Whether the lock expired under us (the store could not be reached to renew it for
    /// longer than its lifetime, and someone else may hold it now).
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
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
