//! Background work of `serve`: the periodic full reconcile that heals missed webhooks. It
//! calls the engine's reconcile; the engine records each run in the store. A pass is skipped
//! when another replica finished one less than an interval ago (checked in the shared store).
//!
//! Live processing of the inbox belongs here too, once the engine offers its live worker.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tte_sync_core::engine::{Engine, ReconcileOptions};
use tte_sync_core::store::RunKind;

/// Runs a reconcile every `interval` until `stop` turns true; a pass in progress finishes
/// first (the engine writes in batches and records what it did).
pub async fn reconcile_loop(engine: Engine, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        if due(&engine, interval).await {
            tracing::info!(connector = engine.connector(), "Reconcile started.");
            match engine.reconcile(&ReconcileOptions::default()).await {
                Ok(summary) => tracing::info!(
                    to_crm = summary.to_crm.writes(),
                    to_hub = summary.to_hub.writes(),
                    failed = summary.to_crm.failed + summary.to_hub.failed,
                    "Reconcile finished."
                ),
                Err(error) => {
                    tracing::error!(%error, "Reconcile failed; retrying at the next interval.")
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Whether a pass is due: no reconcile finished within the last `interval` (by any replica).
async fn due(engine: &Engine, interval: Duration) -> bool {
    match engine.store().last_finished_run(RunKind::Reconcile).await {
        Ok(Some(run)) => {
            let since = Utc::now() - run.finished_at.unwrap_or(run.started_at);
            since
                .to_std()
                .is_ok_and(|since| since >= interval.mul_f32(0.9))
        }
        Ok(None) => true,
        Err(error) => {
            tracing::warn!(%error, "Cannot read the run history; reconciling anyway.");
            true
        }
    }
}
