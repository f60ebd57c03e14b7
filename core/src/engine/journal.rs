//! What a pass or batch tells the operator: an activity entry per write (created, updated,
//! linked, archived, deleted, conflict, failed) and each touched object's last sync status,
//! for the dashboard. Collected while writing and saved with the links, in batches.
//!
//! Only objects that were written or failed get a status row; a pass that changes nothing
//! writes nothing here either.

use chrono::Utc;

use super::plan::{Flow, PairPlan};
use crate::record::{CrmId, CustomerUri};
use crate::store::{
    Action, Activity, Direction, ObjectRef, Reason, RecordStatus, Side, Store, SyncStatus,
};

/// The message of an object that synced.
const SYNCED: &str = "synced";

/// Entries waiting to be saved.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    connector: &'static str,
    activity: Vec<Activity>,
    statuses: Vec<RecordStatus>,
}

/// The objects one entry is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) hub: Option<&'a str>,
    pub(crate) crm: Option<&'a CrmId>,
    pub(crate) name: &'a str,
}

impl Journal {
    pub(crate) fn new(connector: &'static str) -> Self {
        Self {
            connector,
            ..Self::default()
        }
    }

    /// Whether enough waits to be worth a write.
    pub(crate) fn is_full(&self) -> bool {
        self.activity.len() + self.statuses.len() >= 500
    }

    /// Something was written; both objects synced, unless the mapping reported `errors`
    /// (an invalid email written as the placeholder): then they need attention, with those.
    pub(crate) fn written(
        &mut self,
        direction: Direction,
        action: Action,
        subject: Subject<'_>,
        detail: String,
        errors: &[String],
    ) {
        self.entry(direction, action, subject, detail);
        self.synced(subject, errors);
    }

    fn synced(&mut self, subject: Subject<'_>, errors: &[String]) {
        if errors.is_empty() {
            self.status(subject, SyncStatus::Ok, Reason::None, SYNCED);
        } else {
            let message = errors.join("; ");
            self.status(
                subject,
                SyncStatus::Attention,
                Reason::InvalidValue,
                &message,
            );
        }
    }

    /// The written fields and conflicts of a pair whose writes went through.
    pub(crate) fn pair_written(&mut self, plan: &PairPlan, linked: bool, subject: Subject<'_>) {
        if linked {
            self.entry(Direction::HubToCrm, Action::Linked, subject, String::new());
        }
        for (flow, direction, wrote) in [
            (Flow::ToCrm, Direction::HubToCrm, plan.crm_write.is_some()),
            (Flow::ToHub, Direction::CrmToHub, plan.hub_patch.is_some()),
        ] {
            let fields = plan.fields.iter().filter(|f| f.flow == flow);
            let conflicts: Vec<&str> = fields
                .clone()
                .filter(|f| f.conflict)
                .map(|f| f.key.as_str())
                .collect();
            if !conflicts.is_empty() {
                let winner = match flow {
                    Flow::ToCrm => "10to8's value kept",
                    Flow::ToHub => "the CRM's value kept",
                };
                let detail = format!("both sides changed {}; {winner}", conflicts.join(", "));
                self.entry(direction, Action::Conflict, subject, detail);
            }
            if wrote {
                let keys: Vec<&str> = fields.map(|f| f.key.as_str()).collect();
                self.entry(direction, Action::Updated, subject, keys.join(", "));
            }
        }
        if linked || !plan.is_noop() {
            self.synced(subject, &plan.errors);
        }
    }

    /// A write failed: an activity entry and the error status on the objects concerned.
    pub(crate) fn failed(&mut self, direction: Direction, subject: Subject<'_>, error: &str) {
        self.entry(direction, Action::Failed, subject, error.to_owned());
        self.status(subject, SyncStatus::Error, Reason::WriteFailed, error);
    }

    /// A delete was refused because of future bookings: designed, retried by later passes.
    pub(crate) fn blocked(&mut self, direction: Direction, subject: Subject<'_>, message: &str) {
        self.entry(direction, Action::Blocked, subject, message.to_owned());
        self.status(
            subject,
            SyncStatus::Attention,
            Reason::DeleteBlocked,
            message,
        );
    }

    /// An object held back as a possible duplicate.
    pub(crate) fn held(&mut self, subject: Subject<'_>, message: &str) {
        self.status(
            subject,
            SyncStatus::Attention,
            Reason::PossibleDuplicate,
            message,
        );
    }

    /// Saves what was collected.
    pub(crate) async fn flush(&mut self, store: &Store) -> crate::store::Result<()> {
        if !self.activity.is_empty() {
            store.log_activity(&self.activity).await?;
            self.activity.clear();
        }
        if !self.statuses.is_empty() {
            store.set_record_statuses(&self.statuses).await?;
            self.statuses.clear();
        }
        Ok(())
    }

    fn entry(
        &mut self,
        direction: Direction,
        action: Action,
        subject: Subject<'_>,
        detail: String,
    ) {
        self.activity.push(Activity {
            at: Utc::now(),
            connector: self.connector.to_owned(),
            direction,
            action,
            hub_uri: subject.hub.filter(|u| !u.is_empty()).map(CustomerUri::from),
            crm_id: subject.crm.cloned(),
            display_name: subject.name.to_owned(),
            detail,
        });
    }

    fn status(&mut self, subject: Subject<'_>, status: SyncStatus, reason: Reason, message: &str) {
        let objects = [
            subject
                .hub
                .filter(|u| !u.is_empty())
                .map(|uri| (Side::Hub, uri)),
            subject.crm.map(|id| (Side::Crm, id.as_str())),
        ];
        for (side, id) in objects.into_iter().flatten() {
            self.statuses.push(RecordStatus {
                object: ObjectRef {
                    connector: self.connector.to_owned(),
                    side,
                    object_id: id.to_owned(),
                },
                status,
                reason,
                message: message.to_owned(),
                display_name: subject.name.to_owned(),
                updated_at: Utc::now(),
            });
        }
    }
}
