//! The 10to8 pace the client learned, kept in the store: restored into the client's pacer
//! before the engine's first pass or batch, saved after a pass and whenever a batch moved it,
//! so the next run starts at the rate this one found instead of finding it again.

use std::sync::Mutex;

use tracing::{debug, warn};

use super::Engine;
use crate::http::LearnedPace;
use crate::store::{Store, StoreError};

/// The setting the learned pace is kept under (shared by every replica of a deployment).
pub const LEARNED_PACE_SETTING: &str = "tte.learned_pace";
/// How far (as a share) the rate must move before a live batch saves it again.
const SAVE_WHEN_MOVED: f64 = 0.05;

/// What the engine restored and last saved.
#[derive(Debug, Default)]
pub(crate) struct PaceMemo {
    restored: tokio::sync::OnceCell<()>,
    saved: Mutex<Option<LearnedPace>>,
}

/// The learned 10to8 pace in `store`, if a run saved one (for `status` and the dashboard).
///
/// # Errors
/// Fails when the store cannot be read.
pub async fn learned_pace(store: &Store) -> Result<Option<LearnedPace>, StoreError> {
    let Some(text) = store.setting(LEARNED_PACE_SETTING).await? else {
        return Ok(None);
    };
    // A value this version cannot read is left to be overwritten, not an error.
    Ok(serde_json::from_str(&text).ok())
}

impl Engine {
    /// Gives the 10to8 client the pace an earlier run learned; once per engine. A store that
    /// cannot be read leaves the configured start rate (and is said in the log).
    pub(crate) async fn restore_pace(&self) {
        self.pace
            .restored
            .get_or_init(|| async {
                match learned_pace(&self.store).await {
                    Ok(Some(learned)) => {
                        debug!(?learned, "Starting from the learned 10to8 pace.");
                        self.tte.limiter().restore(learned);
                        *self.lock_saved() = Some(self.tte.limiter().learned());
                    }
                    Ok(None) => {}
                    Err(error) => {
                        warn!(%error, "Could not read the learned 10to8 pace; starting at tte.start_requests_per_second.");
                    }
                }
            })
            .await;
    }

    /// Saves the client's pace when it moved since it was last saved (`always`: whenever it
    /// differs at all, as at the end of a pass).
    pub(crate) async fn save_pace(&self, always: bool) {
        let learned = self.tte.limiter().learned();
        let moved = match *self.lock_saved() {
            None => true,
            Some(saved) if always => saved != learned,
            Some(saved) => {
                saved.throttled_at != learned.throttled_at
                    || rate_moved(saved.requests_per_second, learned.requests_per_second)
            }
        };
        if !moved {
            return;
        }
        let Ok(text) = serde_json::to_string(&learned) else {
            return;
        };
        match self
            .store
            .set_setting(LEARNED_PACE_SETTING, &text, None)
            .await
        {
            Ok(()) => *self.lock_saved() = Some(learned),
            Err(error) => warn!(%error, "Could not save the learned 10to8 pace."),
        }
    }

    fn lock_saved(&self) -> std::sync::MutexGuard<'_, Option<LearnedPace>> {
        self.pace
            .saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn rate_moved(before: Option<f64>, now: Option<f64>) -> bool {
    match (before, now) {
        (Some(before), Some(now)) => (now - before).abs() > before * SAVE_WHEN_MOVED,
        (None, None) => false,
        _ => true,
    }
}
