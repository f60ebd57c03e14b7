//! Systemic failures: a cause that is the same for every record stops the pass with one error,
//! instead of being written into each record's status and dead letter.
//!
//! The rule (see docs/design-notes.md, "Systemic failures stop the pass"):
//! - a refusal whose [`ErrorKind::is_systemic`] says the cause is the configuration (refused
//!   credentials or scope, a property the CRM does not have) stops the pass at once;
//! - so do [`SYSTEMIC_RUN`] refusals in a row, on one side, with the same message and no
//!   success between them (a portal rule refusing every record, a 10to8 field that does not
//!   exist): records that differ fail with messages that differ (an invalid email names the
//!   address), so a run that long is the configuration speaking, not the records.
//!
//! Either way the batch that showed it is not recorded: no status is written, nothing is
//! dead-lettered, no link is saved for it. Every write is idempotent, so the next pass, once
//! the cause is fixed, redoes it from where the store stands.

use std::fmt;

use crate::connector::{ConnectorError, ErrorKind, WriteOutcome};
use crate::engine::EngineError;
use crate::tte::TteError;

/// Refusals in a row with one message, and no success between, that make a cause systemic.
pub const SYSTEMIC_RUN: usize = 10;

/// Which side refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopSide {
    /// The CRM.
    Crm,
    /// 10to8.
    Hub,
}

impl fmt::Display for StopSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Crm => "the CRM",
            Self::Hub => "10to8",
        })
    }
}

/// A pass stopped for a cause every record shares; nothing was recorded against any record
/// for it, and the next pass after the fix picks up where this one stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemicStop {
    /// Which side refused.
    pub side: StopSide,
    /// The cause, with the fix (the side's own message names the side).
    pub cause: String,
    /// Records refused for it before the pass stopped; 0 when the pre-flight found it.
    pub refused: usize,
}

impl fmt::Display for SystemicStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.refused {
            0 => write!(
                f,
                "{} (the pass stopped before writing; nothing was recorded against any record)",
                self.cause
            ),
            1 => write!(
                f,
                "{} (the pass stopped at the first record refused for it; nothing was recorded against it)",
                self.cause
            ),
            n => write!(
                f,
                "{} refused {n} records in a row for the same reason, so the pass stopped (nothing was recorded against them): {}",
                self.side, self.cause
            ),
        }
    }
}

impl SystemicStop {
    /// The stop for an error the CRM refused a whole call with.
    pub(crate) fn crm(error: &ConnectorError, refused: usize) -> EngineError {
        EngineError::Systemic(Self {
            side: StopSide::Crm,
            cause: error.to_string(),
            refused,
        })
    }
}

/// A CRM call's error: a systemic one stops the pass, a passing one stalls it, others are the
/// CRM's errors as before.
pub(crate) fn crm_error(error: ConnectorError) -> EngineError {
    if error.kind().is_systemic() {
        SystemicStop::crm(&error, 0)
    } else {
        error.into()
    }
}

/// A 10to8 call's error, likewise.
pub(crate) fn hub_error(error: TteError) -> EngineError {
    if error.kind().is_systemic() {
        EngineError::Systemic(SystemicStop {
            side: StopSide::Hub,
            cause: error.to_string(),
            refused: 0,
        })
    } else {
        error.into()
    }
}

/// The current run of refusals with one message on one side.
#[derive(Debug, Default)]
pub(crate) struct CauseRun {
    cause: Option<String>,
    count: usize,
}

impl CauseRun {
    /// A write went through: the run is broken.
    pub(crate) fn succeeded(&mut self) {
        self.cause = None;
        self.count = 0;
    }

    /// A write was refused with `cause`; true when the run is long enough to be systemic.
    pub(crate) fn failed(&mut self, cause: &str) -> bool {
        if self.cause.as_deref() == Some(cause) {
            self.count += 1;
        } else {
            self.cause = Some(cause.to_owned());
            self.count = 1;
        }
        self.count >= SYSTEMIC_RUN
    }

    /// Judges a CRM batch's outcomes before any is recorded.
    ///
    /// # Errors
    /// [`EngineError::Systemic`] when a refusal is systemic by kind or completes a run.
    pub(crate) fn judge_crm(&mut self, outcomes: &[WriteOutcome]) -> Result<(), EngineError> {
        for outcome in outcomes {
            match outcome {
                WriteOutcome::Failed(error) if error.kind().is_systemic() => {
                    let refused = outcomes
                        .iter()
                        .filter(
                            |o| matches!(o, WriteOutcome::Failed(e) if e.kind() == error.kind()),
                        )
                        .count();
                    return Err(SystemicStop::crm(error, refused));
                }
                // Not found is about the record (deleted meanwhile), a passing failure about
                // the moment: neither is the configuration.
                WriteOutcome::Failed(error)
                    if *error.kind() == ErrorKind::NotFound || error.kind().is_retryable() => {}
                WriteOutcome::Failed(error) => {
                    if self.failed(error.message()) {
                        return Err(SystemicStop::crm(error, self.count));
                    }
                }
                _ => self.succeeded(),
            }
        }
        Ok(())
    }

    /// Judges a 10to8 refusal (`None` for a write that went through) in the order written.
    ///
    /// # Errors
    /// [`EngineError::Systemic`] when the refusal completes a run.
    pub(crate) fn judge_hub(&mut self, refusal: Option<&str>) -> Result<(), EngineError> {
        match refusal {
            None => self.succeeded(),
            Some(cause) if self.failed(cause) => {
                return Err(EngineError::Systemic(SystemicStop {
                    side: StopSide::Hub,
                    cause: cause.to_owned(),
                    refused: self.count,
                }));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CrmId;

    fn refused(message: &str) -> WriteOutcome {
        WriteOutcome::Failed(ConnectorError::new(
            ErrorKind::Invalid { field: None },
            message,
        ))
    }

    fn written() -> WriteOutcome {
        WriteOutcome::Written {
            id: CrmId::from("1"),
            created: false,
        }
    }

    #[test]
    fn a_systemic_kind_stops_at_once_naming_how_many_it_refused() {
        let missing = ConnectorError::new(
            ErrorKind::Misconfigured {
                properties: vec!["tte_customer_uri".to_owned()],
            },
            "the CRM answered 400: property tte_customer_uri does not exist; run `tte-sync setup`",
        );
        let outcomes = vec![
            WriteOutcome::Failed(missing.clone()),
            WriteOutcome::Failed(missing),
            written(),
        ];
        let error = CauseRun::default().judge_crm(&outcomes).unwrap_err();
        let EngineError::Systemic(stop) = &error else {
            panic!("{error}")
        };
        assert_eq!((stop.side, stop.refused), (StopSide::Crm, 2));
        assert!(
            error.to_string().contains("run `tte-sync setup`"),
            "{error}"
        );
    }

    #[test]
    fn a_run_of_one_cause_stops_and_different_causes_or_a_success_do_not() {
        let rule = "portal rule: `lastname` is required";
        let mut run = CauseRun::default();
        let almost: Vec<WriteOutcome> = (0..SYSTEMIC_RUN - 1).map(|_| refused(rule)).collect();
        run.judge_crm(&almost).expect("one short of a run");
        run.judge_crm(&[written()]).expect("a success");
        run.judge_crm(&almost).expect("the success broke the run");
        let emails: Vec<WriteOutcome> = (0..3 * SYSTEMIC_RUN)
            .map(|n| refused(&format!("email a{n}@x is invalid")))
            .collect();
        run.judge_crm(&emails).expect("per-record causes differ");
        let whole: Vec<WriteOutcome> = (0..SYSTEMIC_RUN).map(|_| refused(rule)).collect();
        let error = run.judge_crm(&whole).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("the CRM refused {SYSTEMIC_RUN} records in a row")),
            "{error}"
        );
    }

    #[test]
    fn not_found_and_passing_failures_never_make_a_run() {
        let gone: Vec<WriteOutcome> = (0..2 * SYSTEMIC_RUN)
            .map(|_| {
                WriteOutcome::Failed(ConnectorError::new(ErrorKind::NotFound, "no such record"))
            })
            .collect();
        CauseRun::default().judge_crm(&gone).expect("per record");
        let passing: Vec<WriteOutcome> = (0..2 * SYSTEMIC_RUN)
            .map(|_| WriteOutcome::Failed(ConnectorError::transient("reported nothing; retry it")))
            .collect();
        CauseRun::default().judge_crm(&passing).expect("passing");
    }

    #[test]
    fn a_run_of_10to8_refusals_stops() {
        let mut run = CauseRun::default();
        for _ in 1..SYSTEMIC_RUN {
            run.judge_hub(Some("10to8 refused the custom field Sync Status"))
                .expect("short");
        }
        let error = run
            .judge_hub(Some("10to8 refused the custom field Sync Status"))
            .unwrap_err();
        assert!(
            error.to_string().starts_with("10to8 refused 10 records"),
            "{error}"
        );
    }
}
