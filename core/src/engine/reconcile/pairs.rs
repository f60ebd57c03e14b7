//! Writing the pairs that exist on both sides: CRM updates in batches, then the 10to8 patches,
//! then their links.

use std::collections::{BTreeMap, HashMap, HashSet};

use tracing::warn;

use super::pass::{Pass, pair_subject};
use super::planning::PairWork;
use super::to_hub::{HubDone, HubJob};
use crate::connector::{CrmWrite, WriteOutcome};
use crate::engine::pair::Found;
use crate::engine::plan::Flow;
use crate::engine::{EngineError, StallCause};
use crate::record::{CrmId, CustomerUri};
use crate::store::{Direction, ObjectRef};
use crate::tte::CustomerPatch;

impl Pass<'_> {
    /// Writes the pairs: CRM first in batches, then 10to8; saves links for the pairs whose
    /// writes all went through.
    pub(super) async fn write_pairs(&mut self, work: Vec<PairWork>) -> Result<(), EngineError> {
        let sides = self.sides;
        let mut crm_failed: HashMap<CrmId, String> = HashMap::new();
        let mut crm_stalled: HashSet<CrmId> = HashSet::new();
        let mut stalled = None;
        let updates: Vec<&PairWork> = work.iter().filter(|w| w.plan.crm_write.is_some()).collect();
        for chunk in updates.chunks(self.engine.round()) {
            let writes = chunk
                .iter()
                .map(|w| CrmWrite::Update {
                    id: w.record.clone(),
                    properties: w.plan.crm_write.clone().unwrap_or_default(),
                })
                .collect();
            let outcomes = self.write_crm(writes).await?;
            for (w, outcome) in chunk.iter().zip(outcomes) {
                if let WriteOutcome::Failed(error) = &outcome
                    && StallCause::of(error.kind()).is_some()
                {
                    // The CRM throttled or was down for this record beyond the stall budget:
                    // no fault of the record. The pass stops once the writes that went
                    // through are saved.
                    crm_stalled.insert(w.record.clone());
                    stalled.get_or_insert_with(|| error.clone());
                } else if let WriteOutcome::Failed(error) = outcome {
                    warn!(record = %w.record, %error, "CRM write failed.");
                    crm_failed.insert(w.record.clone(), error.message().to_owned());
                    self.summary.to_crm.failed += 1;
                    let customer = &sides.customers[w.customer];
                    let subject = pair_subject(customer, &w.record);
                    self.dead_letter(
                        ObjectRef::crm(self.connector(), w.record.as_str()),
                        Direction::HubToCrm,
                        subject,
                        &error.to_string(),
                    )
                    .await?;
                } else {
                    self.summary.to_crm.updated += 1;
                }
            }
        }
        for w in &work {
            if w.plan
                .fields
                .iter()
                .any(|f| f.conflict && f.flow == Flow::ToCrm)
            {
                self.summary.to_crm.conflicts += 1;
            }
            if w.plan
                .fields
                .iter()
                .any(|f| f.conflict && f.flow == Flow::ToHub)
            {
                self.summary.to_hub.conflicts += 1;
            }
        }

        let mut jobs = Vec::new();
        let mut index = Vec::new();
        for (n, w) in work.iter().enumerate() {
            if crm_stalled.contains(&w.record) {
                continue;
            }
            let uri = CustomerUri(self.sides.customers[w.customer].resource_uri.clone());
            let patch = match (crm_failed.get(&w.record), &w.plan.hub_patch) {
                (Some(error), _) => {
                    // The CRM refused: say so in 10to8, once, and write nothing else there.
                    // The link stays as it was, so the pair is synced whole once the cause is
                    // gone; writing its fields now would make 10to8 notify us of our own
                    // write, the CRM refuse again, and so on.
                    let (Some(status), Some(text)) =
                        (self.engine.mapping.status(), self.error_status(error))
                    else {
                        continue;
                    };
                    let current = &self.sides.customers[w.customer].custom_fields;
                    if !self.direction.writes_hub()
                        || current.get(&status.hub_custom_field) == Some(&text)
                    {
                        continue;
                    }
                    CustomerPatch {
                        custom_fields: Some(BTreeMap::from([(
                            status.hub_custom_field.clone(),
                            text,
                        )])),
                        ..CustomerPatch::default()
                    }
                }
                (None, Some(patch)) => patch.clone(),
                (None, None) => continue,
            };
            jobs.push(HubJob::Patch { uri, patch });
            index.push(n);
        }
        let results = self.run_hub_jobs(jobs).await?;
        let mut hub_failed = HashSet::new();
        for (n, done) in index.into_iter().zip(results) {
            let w = &work[n];
            match done {
                HubDone::Failed(error) => {
                    let customer = &sides.customers[w.customer];
                    let uri = &customer.resource_uri;
                    warn!(customer = %uri, %error, "10to8 write failed.");
                    self.summary.to_hub.failed += 1;
                    hub_failed.insert(n);
                    self.dead_letter(
                        ObjectRef::hub(self.connector(), uri.as_str()),
                        Direction::CrmToHub,
                        pair_subject(customer, &w.record),
                        &error,
                    )
                    .await?;
                }
                HubDone::Gone => {
                    hub_failed.insert(n);
                }
                _ => {
                    if !crm_failed.contains_key(&w.record) {
                        self.summary.to_hub.updated += 1;
                    }
                }
            }
        }
        for (n, w) in work.into_iter().enumerate() {
            self.advance(1);
            if crm_failed.contains_key(&w.record)
                || crm_stalled.contains(&w.record)
                || hub_failed.contains(&n)
            {
                continue;
            }
            let customer = &sides.customers[w.customer];
            self.journal.pair_written(
                &w.plan,
                w.found != Found::Stored,
                pair_subject(customer, &w.record),
            );
            let uri = customer.resource_uri.clone();
            let link = self.link(&uri, &w.record, w.plan.hub_snapshot, w.plan.crm_snapshot);
            self.push_link(link).await?;
        }
        match stalled {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}
