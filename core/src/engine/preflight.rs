//! The pre-flight of a pass: before it reads or writes a record, the CRM has what the pass
//! needs. One `describe()` (every CRM property the mapping names exists, and is writable where
//! the sync writes it) and one `check()` (the credentials are accepted for reading records).
//! A success is remembered for [`PREFLIGHT_FRESH`], so `serve`'s frequent passes cost nothing.
//!
//! Scopes the check cannot see without writing (a CRM's write scope) show on the first
//! write instead, where [`systemic`](super::systemic) stops the pass just the same.

use std::time::{Duration, Instant};

use tracing::debug;

use super::systemic::{StopSide, SystemicStop, crm_error};
use super::{Engine, EngineError, StallCause};
use crate::mapping::catalog::check_catalog;

/// How long a passed pre-flight is trusted.
pub const PREFLIGHT_FRESH: Duration = Duration::from_secs(60);

impl Engine {
    /// Checks that the CRM has every property the mapping names (writable where written) and
    /// accepts the credentials; a pass runs it before its first read. A missing property
    /// would refuse every write of the pass (a sync run before `setup`), and that is one
    /// fault to fix, not one failure per record.
    ///
    /// # Errors
    /// [`EngineError::Systemic`] naming what is missing and the fix; [`EngineError::Crm`]
    /// when the CRM cannot be reached.
    pub async fn preflight(&self) -> Result<(), EngineError> {
        if self
            .preflight_passed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < PREFLIGHT_FRESH)
        {
            return Ok(());
        }
        let catalog = self.crm.describe().await.map_err(crm_error)?;
        let check = check_catalog(&self.mapping, &catalog);
        let stop = |cause: String| {
            EngineError::Systemic(SystemicStop {
                side: StopSide::Crm,
                cause,
                refused: 0,
            })
        };
        if !check.to_create.is_empty() {
            let (noun, pronoun) = if check.to_create.len() == 1 {
                ("property", "it")
            } else {
                ("properties", "them")
            };
            return Err(stop(format!(
                "the CRM has no {noun} {} yet, which the mapping writes; run `tte-sync setup` to create {pronoun}, then sync again",
                check.to_create.join(", ")
            )));
        }
        if !check.problems.is_empty() {
            let problems: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
            return Err(stop(format!(
                "the mapping does not fit the CRM's properties; correct it (`tte-sync mapping check --online` shows the same):\n{}",
                problems.join("\n")
            )));
        }
        match self.crm.check().await {
            Ok(()) => {}
            // The check tries once; a passing failure says nothing about the credentials, and
            // the pass's own calls wait it out (a refusal then still stops the pass).
            Err(error) if StallCause::of(error.kind()).is_some() => {
                debug!(%error, "The pre-flight's credentials check met a passing failure; the pass goes on.");
                return Ok(());
            }
            Err(error) => return Err(crm_error(error)),
        }
        *self
            .preflight_passed
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// Forgets a passed pre-flight, so the next pass checks again (after a systemic stop).
    pub(crate) fn forget_preflight(&self) {
        *self
            .preflight_passed
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }
}
