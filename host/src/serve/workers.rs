//! Background work of `serve`, all of it done by the engine: live workers drain the inbox
//! (claimed in batches with leases, so replicas never work on one object at once), and a
//! periodic full reconcile heals missed webhooks. A reconcile is skipped when another replica
//! finished one less than an interval ago; the engine's sync lock keeps passes and batches
//! from overlapping, across replicas too. On shutdown a worker finishes the batch it holds
//! and releases anything still claimed. When the connector pulls its changes (a journal, or
//! polling) instead of receiving webhooks, a feed loop pulls them into the inbox. What each
//! pass and batch wrote (and each live item's lag) is counted in the shared [`Metrics`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tte_sync_core::engine::{Engine, ReconcileOptions};
use tte_sync_core::store::Store;

use super::Metrics;
use super::metrics::Source;

/// Runs a reconcile every `interval` until `stop` turns true; a pass in progress finishes
/// first (the engine writes in batches and records what it did).
/// `first_done` turns true once the first pass (if one was due) is over, so that live workers
/// do not work on records the first pass is still linking.
pub async fn reconcile_loop(
    engine: Engine,
    interval: Duration,
    metrics: Arc<Metrics>,
    first_done: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        // A pass counts as due a little early, so replicas' timers drifting apart do not
        // skip a whole interval.
        match engine
            .reconcile_if_due(interval.mul_f32(0.9), &ReconcileOptions::default())
            .await
        {
            Ok(Some(summary)) => {
                metrics.record_sync(&summary);
                tracing::info!(
                    to_crm = summary.to_crm.writes(),
                    to_hub = summary.to_hub.writes(),
                    failed = summary.to_crm.failed + summary.to_hub.failed,
                    "Reconcile finished."
                );
            }
            Ok(None) => tracing::debug!("Reconcile skipped: another replica ran one recently."),
            Err(error) => {
                tracing::error!(%error, "Reconcile failed; retrying at the next interval.")
            }
        }
        first_done.send_replace(true);
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Processes inbox batches as `worker` until `stop` turns true; looks again every `poll`
/// while nothing is due. The batch in hand is finished before stopping, then any claim left
/// is released so another worker or replica takes it at once.
/// Starts once `ready` turns true (after the first reconcile).
pub async fn live_loop(
    engine: Engine,
    worker: String,
    poll: Duration,
    metrics: Arc<Metrics>,
    mut ready: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::select! {
        _ = ready.wait_for(|ready| *ready) => {}
        _ = stop.wait_for(|stopped| *stopped) => return,
    }
    loop {
        if *stop.borrow() {
            break;
        }
        let pause = match engine.process_inbox(&worker).await {
            Ok(summary) if summary.processed > 0 => {
                metrics.record_live(&summary);
                tracing::debug!(
                    worker,
                    processed = summary.processed,
                    failed = summary.failed,
                    "Processed an inbox batch."
                );
                continue;
            }
            Ok(_) => poll,
            Err(error) => {
                tracing::warn!(worker, %error, "Inbox processing failed; retrying.");
                poll * ERROR_PAUSE_FACTOR
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    release_claims(engine.store(), &worker).await;
}

/// Pulls the connector's change feed into the inbox until `stop` turns true: again at once
/// while the feed says more is waiting, after its idle interval once caught up, and after a
/// growing pause when a pull fails. Starts once `ready` turns true (after the first
/// reconcile), like the live workers.
pub async fn feed_loop(
    engine: Engine,
    metrics: Arc<Metrics>,
    mut ready: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(feed) = engine.crm().change_feed() else {
        return;
    };
    let idle = feed.idle_interval();
    tokio::select! {
        _ = ready.wait_for(|ready| *ready) => {}
        _ = stop.wait_for(|stopped| *stopped) => return,
    }
    // Idempotent: makes sure every account known now is subscribed (one installed since
    // `setup` ran, too); the feed subscribes later installs itself.
    match feed.prepare(engine.mapping().crm_properties(), false).await {
        Ok(report) if report.changed_anything() => {
            tracing::info!(
                mode = feed.mode(),
                changes = report.changes.len(),
                "Prepared the change feed."
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(mode = feed.mode(), %error, "Could not prepare the change feed; pulling anyway.")
        }
    }
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let pause = match engine.pull_changes().await {
            Ok(pulled) => {
                failures = 0;
                metrics.events_received(Source::Crm, pulled.received);
                metrics.echoes_suppressed(pulled.echoes);
                if let Some(summary) = &pulled.caught_up_by_reconcile {
                    metrics.record_sync(summary);
                    tracing::warn!(
                        to_crm = summary.to_crm.writes(),
                        to_hub = summary.to_hub.writes(),
                        "The change feed had lost track; a full reconcile caught up."
                    );
                }
                if pulled.more { Duration::ZERO } else { idle }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let pause = idle.saturating_mul(2u32.saturating_pow(failures.min(6)));
                tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "Pulling CRM changes failed; retrying.");
                pause
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Hands back whatever `worker` still has claimed, so that another worker or a restart takes
/// it at once instead of after the lease.
pub async fn release_claims(store: &Store, worker: &str) {
    match store.release(worker).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(worker, released, "Released claimed inbox items."),
        Err(error) => {
            tracing::warn!(worker, %error, "Could not release claims; they expire with their lease.")
        }
    }
}

/// After a failure, a worker waits this many poll intervals.
const ERROR_PAUSE_FACTOR: u32 = 20;
