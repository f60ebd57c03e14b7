//! The sync engine: makes 10to8 customers and CRM records agree, and keeps them agreeing.
//!
//! - [`plan`]: the pure three-way merge of one linked pair against its snapshots.
//! - [`pair`]: the pure pairing of both sides in a full pass (stored link → id fields →
//!   match rule → create).
//! - [`reconcile`]: the full two-way pass ([`Engine::reconcile`]): read both sides, pair, plan,
//!   write in batches, save links and snapshots, record the run.
//! - [`live`]: inbox batches ([`Engine::process_inbox`], [`Engine::drain_inbox`]): re-fetch the
//!   touched objects and their partners, then the same pairing and planning as a full pass.
//! - [`feed`]: a connector's pulled change feed into the inbox ([`Engine::pull_changes`]).
//! - [`summary`]: what a pass did, per direction.
//! - `journal`: the activity log and per-record status the dashboard shows.
//! - `lock`: the per-connector sync lock that keeps passes and batches from overlapping.
//! - `turns`: how a full pass writes chunk by chunk under that lock, live work first.
//!
//! Every step is idempotent: CRM creates are upserts keyed by the customer's URI, a 10to8
//! create is preceded by a pending-create intent and the created customer carries the CRM id in
//! its External ID (so a rerun after a crash finds it by the id fields instead of creating
//! another), and links are saved only after both writes went through.

pub mod feed;
mod journal;
pub mod live;
mod lock;
mod matching;
pub mod pair;
pub mod plan;
mod preflight;
pub mod reconcile;
mod resolve;
pub mod summary;
pub mod systemic;
mod turns;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::connector::{ConnectorError, CrmConnector, ErrorKind};
use crate::mapping::Mapping;
use crate::store::{Store, StoreError};
use crate::tte::{TteClient, TteError};

pub use live::LiveSummary;
pub use pair::{Ambiguity, Found, Held, Pairing};
pub use plan::{ChangeTimes, FieldDecision, Flow, PairPlan, Snapshots, plan_pair};
pub use preflight::PREFLIGHT_FRESH;
pub use reconcile::{Progress, ReconcileOptions};
pub use resolve::Unlinked;
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
    Tte(#[from] TteError),
    /// The CRM could not be read or refused the credentials. (Its message names the CRM.)
    #[error(transparent)]
    Crm(#[from] ConnectorError),
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
    /// Whether the cause is passing: an API throttled or was down for longer than the stall
    /// budget (`sync.max_stall_secs`), or its daily budget is spent. Nothing was recorded
    /// against any record for it; the same work succeeds once the API answers again.
    pub fn is_transient(&self) -> bool {
        let passing =
            |kind: &ErrorKind| kind.is_retryable() || matches!(kind, ErrorKind::RateLimited { .. });
        match self {
            Self::Tte(error) => passing(error.kind()),
            Self::Crm(error) => passing(error.kind()),
            _ => false,
        }
    }

    /// Whether an API's daily budget is spent (it resets once a day, not in seconds).
    pub fn is_daily_limit(&self) -> bool {
        let daily = |kind: &ErrorKind| matches!(kind, ErrorKind::RateLimited { daily: true, .. });
        match self {
            Self::Tte(error) => daily(error.kind()),
            Self::Crm(error) => daily(error.kind()),
            _ => false,
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

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }
}
