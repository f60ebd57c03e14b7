//! The operator's view of an installation, gathered once and shown three ways: `GET /` (HTML),
//! `GET /api/status` (JSON) and `tte-sync status` (terminal). Everything comes from the store,
//! plus two quick health checks: 10to8 answers our key, and the CRM answers the connector's
//! cheap authenticated call ([`CrmConnector::check`]), with when its OAuth token expires.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tte_sync_core::connector::{CrmConnector, ErrorKind};
use tte_sync_core::engine::pace::learned_pace;
use tte_sync_core::http::LearnedPace;
use tte_sync_core::store::{Action, Activity, InboxStats, ReasonCount, RecordStatus, Run, Store};
use tte_sync_core::tte::TteClient;
use url::Url;

use crate::tte_subscription;

/// How long a health check may take before it counts as failed.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);
/// How many entries of each list the summary shows.
pub const LIST_LIMIT: u32 = 50;

/// The operator's view of an installation.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// When this view was taken.
    pub at: DateTime<Utc>,
    /// The CRM connector's name.
    pub connector: String,
    /// Where the state is kept, as the store names it: a database password shows as `***`.
    pub store: String,
    /// Whether 10to8 and the CRM can be reached with our credentials.
    pub health: Health,
    /// The inbox: changes waiting.
    pub inbox: InboxStats,
    /// The last runs (reconciles, setup), newest first.
    pub runs: Vec<Run>,
    /// The latest activity, newest first.
    pub activity: Vec<Activity>,
    /// Records whose changes failed for good, with the reason; each can be retried.
    pub dead_letters: Vec<DeadLetterView>,
    /// Records whose last write failed: each needs a retry or a person.
    pub failing: Vec<RecordStatus>,
    /// How many records are failing in all.
    pub failing_count: u64,
    /// Records that synced as designed with something to look at: a value the CRM refuses
    /// kept in 10to8, a possible duplicate waiting for `link`/`unlink`, a blocked delete.
    pub attention: Vec<RecordStatus>,
    /// How many records need attention in all.
    pub attention_count: u64,
    /// Failing and attention records counted by reason, failing first.
    pub reasons: Vec<ReasonCount>,
    /// The latest conflicts the policy settled.
    pub conflicts: Vec<Activity>,
}

/// Connection health.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// 10to8: reachable with our key, or what failed.
    pub tte: Check,
    /// 10to8 notifies the path token the state store holds (else its notifications get
    /// 404), or what is wrong; not checked without `server.public_url`.
    pub tte_notifications: Check,
    /// The CRM: reachable with our credentials (and which OAuth account), or what failed.
    pub crm: Check,
    /// When the CRM's OAuth access token expires (refreshed on use), if OAuth is used.
    pub crm_token_expires_at: Option<DateTime<Utc>>,
    /// How changes made in the CRM arrive: `webhooks`, `webhooks journal`, `polling`, …
    pub crm_changes: String,
    /// Why the CRM app must be installed again (the CRM revoked the install), if it must.
    pub crm_reinstall_needed: Option<String>,
    /// The 10to8 pace the client learned (saved after each pass), if one was saved.
    pub tte_pace: Option<LearnedPace>,
}

/// One health check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Whether it passed.
    pub ok: bool,
    /// What was found, for a person.
    pub detail: String,
}

/// A dead letter as shown.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    /// Its id (the retry button posts it).
    pub id: i64,
    /// `hub` or `crm`.
    pub side: String,
    /// The 10to8 URI or CRM id.
    pub object_id: String,
    /// Why it failed.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was given up.
    pub failed_at: DateTime<Utc>,
}

impl Status {
    /// Whether `tte-sync status` exits 0 on this view: every check passed, nothing is
    /// dead-lettered and no record is failing (records needing attention do not count).
    pub fn is_healthy(&self) -> bool {
        self.health.tte.ok
            && self.health.tte_notifications.ok
            && self.health.crm.ok
            && self.dead_letters.is_empty()
            && self.failing_count == 0
    }

    /// Gathers the view. `tte` is checked when given; the CRM is checked through `connector`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn gather(
        store: &Store,
        connector: &dyn CrmConnector,
        tte: Option<&TteClient>,
        public_url: Option<&Url>,
    ) -> tte_sync_core::store::Result<Self> {
        let name = connector.name();
        let (tte_check, crm_answer) = tokio::join!(
            check_tte(tte, store, public_url),
            tokio::time::timeout(HEALTH_TIMEOUT, connector.check())
        );
        // Read after the check, which may have refreshed the token.
        let token = store.token(name, None).await?;
        let credentials = match (&token, connector.oauth().is_some()) {
            (Some(token), _) if token.expires_at > Utc::now() => {
                format!("OAuth token for account {} is valid", token.account)
            }
            (Some(token), _) => format!(
                "OAuth token for account {} expired; it is refreshed on the next call",
                token.account
            ),
            (None, true) => format!("not installed yet: open /{name}/install/start"),
            (None, false) => "uses the configured static token".to_owned(),
        };
        let installed = token.is_some() || connector.oauth().is_none();
        let crm = match crm_answer {
            _ if !installed => Check {
                ok: false,
                detail: credentials,
            },
            Ok(Ok(())) => Check {
                ok: true,
                detail: format!("reachable; {credentials}"),
            },
            Ok(Err(error)) if *error.kind() == ErrorKind::Unauthorized => Check {
                ok: false,
                detail: format!("reachable, but refused our credentials: {error} ({credentials})"),
            },
            Ok(Err(error)) => Check {
                ok: false,
                detail: format!("unreachable: {error} ({credentials})"),
            },
            Err(_) => Check {
                ok: false,
                detail: format!(
                    "unreachable: no answer within {} s; it may also be waiting for its rate \
                     limit ({credentials})",
                    HEALTH_TIMEOUT.as_secs()
                ),
            },
        };
        let dead_letters = store
            .dead_letters(LIST_LIMIT)
            .await?
            .into_iter()
            .map(|d| DeadLetterView {
                id: d.id,
                side: d.object.side.to_string(),
                object_id: d.object.object_id,
                error: d.error,
                attempts: d.attempts,
                failed_at: d.failed_at,
            })
            .collect();
        Ok(Self {
            at: Utc::now(),
            connector: name.to_owned(),
            store: store.location().to_owned(),
            health: Health {
                tte: tte_check.0,
                tte_notifications: tte_check.1,
                crm,
                crm_token_expires_at: token.map(|t| t.expires_at),
                crm_changes: connector.change_capture().to_owned(),
                crm_reinstall_needed: connector.oauth().and_then(|o| o.reinstall_needed()),
                tte_pace: learned_pace(store).await?,
            },
            inbox: store.inbox_stats().await?,
            runs: store.recent_runs(10).await?,
            activity: store.recent_activity(LIST_LIMIT, None).await?,
            dead_letters,
            failing: store.failing_records(LIST_LIMIT).await?,
            failing_count: store.count_failing_records().await?,
            attention: store.attention_records(LIST_LIMIT).await?,
            attention_count: store.count_attention_records().await?,
            reasons: store.record_reasons().await?,
            conflicts: store.recent_activity(20, Some(Action::Conflict)).await?,
        })
    }
}

/// 10to8 answers our key; and its subscription matches the store's path token.
async fn check_tte(
    tte: Option<&TteClient>,
    store: &Store,
    public_url: Option<&Url>,
) -> (Check, Check) {
    let not_checked = |detail: &str| Check {
        ok: true,
        detail: detail.to_owned(),
    };
    let Some(tte) = tte else {
        let unchecked = Check {
            ok: false,
            detail: "not checked".to_owned(),
        };
        return (unchecked, not_checked("not checked"));
    };
    let reachable = tokio::time::timeout(HEALTH_TIMEOUT, tte.subscriptions()).await;
    let notifications = match (&reachable, public_url) {
        (_, None) => not_checked("not checked: `server.public_url` is unset"),
        (Ok(Ok(subscriptions)), Some(public_url)) => {
            match tte_subscription::found(store, subscriptions, public_url).await {
                Ok(found) => match tte_subscription::check(&found) {
                    Ok(detail) => not_checked(detail),
                    Err(detail) => Check {
                        ok: false,
                        detail: detail.to_owned(),
                    },
                },
                Err(error) => Check {
                    ok: false,
                    detail: format!("cannot read the path token: {error}"),
                },
            }
        }
        (_, Some(_)) => Check {
            ok: false,
            detail: "unknown: 10to8 is unreachable".to_owned(),
        },
    };
    (tte_answer(reachable), notifications)
}

fn tte_answer(
    reachable: Result<
        tte_sync_core::tte::TteResult<Vec<tte_sync_core::tte::Subscription>>,
        tokio::time::error::Elapsed,
    >,
) -> Check {
    match reachable {
        Ok(Ok(subscriptions)) => Check {
            ok: true,
            detail: format!("reachable, {} subscription(s)", subscriptions.len()),
        },
        Ok(Err(error)) => Check {
            ok: false,
            detail: format!("unreachable: {error}"),
        },
        Err(_) => Check {
            ok: false,
            detail: format!(
                "unreachable: no answer within {} s",
                HEALTH_TIMEOUT.as_secs()
            ),
        },
    }
}
