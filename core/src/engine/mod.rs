//! The sync engine: makes 10to8 customers and CRM records agree, and keeps them agreeing.
//!
//! - [`plan`]: the pure three-way merge of one linked pair against its snapshots.
//! - [`pair`]: the pure pairing of both sides in a full pass (stored link → id fields →
//!   match rule → create).
//! - [`reconcile`]: the full two-way pass ([`Engine::reconcile`]): read both sides, pair, plan,
//!   write in batches, save links and snapshots, record the run.
//! - [`live`]: inbox batches ([`Engine::process_inbox`], [`Engine::drain_inbox`]): re-fetch the
//!   touched objects and their partners, then the same pairing and planning as a full pass.
//! - `sweep`: a backlog of 10to8 notifications read by listing, not one GET each.
//! - [`feed`]: a connector's pulled change feed into the inbox ([`Engine::pull_changes`]).
//! - [`summary`]: what a pass did, per direction.
//! - `journal`: the activity log and per-record status the dashboard shows.
//! - [`pace`]: the 10to8 pace the client learned, kept in the store between runs.
//! - `lock`: the per-connector sync lock that keeps passes and batches from overlapping.
//! - `turns`: how a full pass writes chunk by chunk under that lock, live work first.
//!
//! Every step is idempotent: CRM creates are upserts keyed by the customer's URI where the CRM
//! upserts natively, and elsewhere plain creates preceded by a pending-create intent and
//! carrying the customer's URI in the id property; a 10to8 create is preceded by an intent too
//! and the created customer carries the CRM id in its External ID (so a rerun after a crash
//! finds either by the id fields instead of creating another); links are saved only after both
//! writes went through. CRM writes go out in the calls the connector's write abilities allow
//! (`crm_writes`).

mod crm_writes;
pub mod feed;
mod journal;
pub mod live;
mod lock;
mod matching;
pub mod pace;
pub mod pair;
pub mod plan;
mod preflight;
pub mod reconcile;
mod resolve;
mod stalled;
pub mod summary;
mod sweep;
pub mod systemic;
mod turns;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::connector::{ConnectorError, CrmConnector};
use crate::mapping::Mapping;
use crate::store::{Store, StoreError};
use crate::tte::{TteClient, TteError};

pub use live::LiveSummary;
pub use pair::{Ambiguity, Found, Held, Pairing};
pub use plan::{ChangeTimes, FieldDecision, Flow, PairPlan, Snapshots, plan_pair};
pub use preflight::PREFLIGHT_FRESH;
pub use reconcile::{Progress, ReconcileOptions};
pub use resolve::Unlinked;
pub use stalled::{StallCause, Stalled};
pub use summary::{Counts, Planned, Summary};
pub use systemic::{StopSide, SystemicStop};

/// Why a sync could not run (per-record failures are counted in the [`Summary`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The state store failed. (Its message names the database; nothing is added.)
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 10to8 could not be read or refused the key. (Its message names 10to8.)
    #[error(transparent)]
    Tte(TteError),
    /// The CRM could not be read or refused the credentials. (Its message names the CRM.)
    #[error(transparent)]
    Crm(ConnectorError),
    /// An API throttled or was down for longer than the stall budget, or its daily limit is
    /// spent: the pass stopped, resumably, with nothing recorded against any record.
    #[error("{0}")]
    Stalled(Stalled),
    /// The sync lock expired while this worker held it (the store was out of reach for
    /// longer than the lock lasts); the work stopped before saving, and is done again later.
    #[error(
        "the sync lock expired while in use (the state store was unreachable for too long); stopped before saving, the work will be retried"
    )]
    LockLost,
    /// A person's request that cannot be done as asked; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The pass stopped for a cause every record shares (missing properties, refused
    /// credentials or scope, one refusal repeated record after record): nothing was recorded
    /// against the records, and the next pass after the fix resumes.
    #[error("{0}")]
    Systemic(SystemicStop),
}

impl EngineError {
    /// Whether the cause is passing ([`EngineError::Stalled`]): an API throttled or was down
    /// for longer than the stall budget (`sync.max_stall_secs`), or its daily limit is spent.
    /// Nothing was recorded against any record for it; the same work succeeds once the API
    /// answers again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Stalled(_))
    }

    /// Whether an API's daily budget is spent (it resets once a day, not in seconds).
    pub fn is_daily_limit(&self) -> bool {
        matches!(self, Self::Stalled(stalled) if stalled.cause == StallCause::DailyLimit)
    }
}

/// A 10to8 failure of a passing kind stops the pass as [`EngineError::Stalled`].
impl From<TteError> for EngineError {
    fn from(error: TteError) -> Self {
        match Stalled::of(crate::tte::API_NAME, error.kind(), error.to_string()) {
            Some(stalled) => Self::Stalled(stalled),
            None => Self::Tte(error),
        }
    }
}

/// A CRM failure of a passing kind stops the pass as [`EngineError::Stalled`]. (The CRM is
/// named by its own messages.)
impl From<ConnectorError> for EngineError {
    fn from(error: ConnectorError) -> Self {
        match Stalled::of("the CRM", error.kind(), error.to_string()) {
            Some(stalled) => Self::Stalled(stalled),
            None => Self::Crm(error),
        }
    }
}

/// Which way a sync may write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncDirection {
    /// Both ways.
    #[default]
    Both,
    /// Only into the CRM (10to8 is read, never written).
    ToCrm,
    /// Only into 10to8 (the CRM is read, never written).
    ToHub,
}

impl SyncDirection {
    /// Whether the CRM may be written.
    pub fn writes_crm(self) -> bool {
        matches!(self, Self::Both | Self::ToCrm)
    }

    /// Whether 10to8 may be written.
    pub fn writes_hub(self) -> bool {
        matches!(self, Self::Both | Self::ToHub)
    }
}

impl FromStr for SyncDirection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "both" => Ok(Self::Both),
            "to-crm" => Ok(Self::ToCrm),
            "to-hub" => Ok(Self::ToHub),
            other => Err(format!(
                "unknown direction `{other}`; use both, to-crm or to-hub"
            )),
        }
    }
}

impl fmt::Display for SyncDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Both => "both",
            Self::ToCrm => "to-crm",
            Self::ToHub => "to-hub",
        })
    }
}

/// The engine for one connector: 10to8, one CRM, the mapping between them and the store.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    tte: TteClient,
    crm: Arc<dyn CrmConnector>,
    mapping: Arc<Mapping>,
    new_record_settle: std::time::Duration,
    pace: Arc<pace::PaceMemo>,
    /// When the last pre-flight passed (see `preflight`).
    preflight_passed: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("connector", &self.crm.name())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine syncing 10to8 (`tte`) with `crm` through `mapping`, keeping state in `store`.
    pub fn new(
        store: Store,
        tte: TteClient,
        crm: Arc<dyn CrmConnector>,
        mapping: Arc<Mapping>,
    ) -> Self {
        Self {
            store,
            tte,
            crm,
            mapping,
            new_record_settle: live::NEW_RECORD_SETTLE,
            pace: Arc::default(),
            preflight_passed: Arc::default(),
        }
    }

    /// How long a record new in the CRM waits in live processing before a 10to8 customer is
    /// created for it (default [`live::NEW_RECORD_SETTLE`]); zero creates at once.
    #[must_use]
    pub fn with_new_record_settle(mut self, settle: std::time::Duration) -> Self {
        self.new_record_settle = settle;
        self
    }

    /// The connector's registered name (the key of links and inbox items).
    pub fn connector(&self) -> &'static str {
        self.crm.name()
    }

    /// The CRM connector.
    pub fn crm(&self) -> &dyn CrmConnector {
        self.crm.as_ref()
    }

    /// The 10to8 client (its pacer shows the learned pace).
    pub fn tte(&self) -> &TteClient {
        &self.tte
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }
}
