//! Creating CRM records for customers that have none, and pairing the ones whose create
//! collided with a record that was there already.

use std::collections::{BTreeMap, HashMap, HashSet};

use tracing::{debug, warn};

use super::CRM_BATCH;
use super::pass::{Pass, pair_subject};
use super::planning::{PairWork, restrict};
use super::to_hub::{HubDone, HubJob};
use crate::connector::{CrmWrite, ErrorKind, WriteOutcome};
use crate::engine::EngineError;
use crate::engine::journal::Subject;
use crate::engine::pair::Found;
use crate::engine::plan::{ChangeTimes, apply_patch, plan_pair, snapshots_of};
use crate::record::{CrmId, CrmRecord, Customer, CustomerUri};
use crate::store::{Action, Direction, ObjectRef};
use crate::tte::CustomerPatch;

impl Pass<'_> {
    /// Creates CRM records for customers without one: upserts keyed by the customer's URI,
    /// then the new id (and status) written back to 10to8.
    pub(super) async fn create_in_crm(&mut self, customers: &[usize]) -> Result<(), EngineError> {
        let sides = self.sides;
        let identity = self.engine.mapping.identity().clone();
        let mut late: Vec<(usize, CrmId)> = Vec::new();
        let mut linked_ids: HashSet<CrmId> = self
            .sides
            .links
            .values()
            .map(|l| l.crm_id.clone())
            .collect();
        for chunk in customers.chunks(CRM_BATCH) {
            let outputs: Vec<_> = chunk
                .iter()
                .map(|&c| {
                    self.engine
                        .mapping
                        .to_crm(&self.sides.customers[c], self.now)
                })
                .collect();
            let writes = chunk
                .iter()
                .zip(&outputs)
                .map(|(&c, out)| CrmWrite::Upsert {
                    id_property: identity.hub_id_property.clone(),
                    key: self.sides.customers[c].resource_uri.clone(),
                    properties: out.properties.clone(),
                })
                .collect();
            let outcomes = self.write_crm(writes).await?;
            // A live batch knows only its own objects' links: ask the store whether the
            // records the creates collided with are linked already.
            let collided: Vec<CrmId> = outcomes
                .iter()
                .filter_map(|o| match o {
                    WriteOutcome::Failed(e) => match e.kind() {
                        ErrorKind::Conflict {
                            existing_id: Some(id),
                        } if !linked_ids.contains(id) => Some(id.clone()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            let linked_elsewhere: HashMap<CrmId, CustomerUri> = self
                .engine
                .store
                .links_by_crm(self.connector(), &collided)
                .await?
                .into_iter()
                .map(|l| (l.crm_id, l.hub_uri))
                .collect();
            let mut jobs = Vec::new();
            let mut made = Vec::new();
            for ((&c, out), outcome) in chunk.iter().zip(outputs).zip(outcomes) {
                let customer = &self.sides.customers[c];
                match outcome {
                    WriteOutcome::Written { id, created } => {
                        let (action, detail) = if created {
                            self.summary.to_crm.created += 1;
                            (Action::Created, String::new())
                        } else {
                            self.summary.to_crm.updated += 1;
                            (Action::Linked, "found by its 10to8 id".to_owned())
                        };
                        let subject = pair_subject(customer, &id);
                        self.journal.written(
                            Direction::HubToCrm,
                            action,
                            subject,
                            detail,
                            &out.errors,
                        );
                        linked_ids.insert(id.clone());
                        let record = CrmRecord {
                            id: id.clone(),
                            properties: out.properties.clone(),
                            ..CrmRecord::default()
                        };
                        let mut fields = BTreeMap::from([(
                            identity.crm_id_custom_field.clone(),
                            id.as_str().to_owned(),
                        )]);
                        if let Some(status) = self.engine.mapping.status() {
                            fields.insert(
                                status.hub_custom_field.clone(),
                                status.text(&out.errors, self.now),
                            );
                        }
                        let patch = CustomerPatch {
                            custom_fields: Some(fields),
                            ..CustomerPatch::default()
                        };
                        let mut after = customer.clone();
                        apply_patch(&patch, &mut after);
                        let (hub, crm) = snapshots_of(&self.engine.mapping, &after, &record);
                        made.push((c, id, hub, crm));
                        if self.direction.writes_hub() {
                            jobs.push(HubJob::Patch {
                                uri: CustomerUri(customer.resource_uri.clone()),
                                patch,
                            });
                        } else {
                            jobs.push(HubJob::Patch {
                                uri: CustomerUri(String::new()),
                                patch: CustomerPatch::default(),
                            });
                        }
                    }
                    WriteOutcome::Failed(error) => match error.kind() {
                        ErrorKind::Conflict {
                            existing_id: Some(existing),
                        } if linked_elsewhere.contains_key(existing) => {
                            let message = format!(
                                "CRM record {existing} has the same email and is linked to another 10to8 customer ({}); merge the two customers in 10to8",
                                linked_elsewhere[existing]
                            );
                            self.fail_customer(customer, &message, &message).await?;
                            self.summary.to_crm.failed += 1;
                        }
                        ErrorKind::Conflict {
                            existing_id: Some(existing),
                        } if !linked_ids.contains(existing) => {
                            debug!(customer = %customer.resource_uri, record = %existing, "Create found an existing record; linking to it.");
                            linked_ids.insert(existing.clone());
                            late.push((c, existing.clone()));
                        }
                        _ => {
                            self.fail_customer(customer, &error.to_string(), error.message())
                                .await?;
                            self.summary.to_crm.failed += 1;
                        }
                    },
                    _ => {}
                }
            }
            let results = self.run_hub_jobs(jobs).await?;
            for ((c, id, hub, crm), done) in made.into_iter().zip(results) {
                self.advance(1);
                let customer = &sides.customers[c];
                let uri = customer.resource_uri.clone();
                if let HubDone::Failed(error) = &done {
                    self.summary.to_hub.failed += 1;
                    self.dead_letter(
                        ObjectRef::hub(self.connector(), uri.as_str()),
                        Direction::CrmToHub,
                        pair_subject(customer, &id),
                        error,
                    )
                    .await?;
                }
                // The link is saved even when the id write-back failed: the CRM record
                // names the customer, and the next pass rewrites the External ID.
                let link = self.link(&uri, &id, hub, crm);
                self.push_link(link).await?;
            }
        }
        if !late.is_empty() {
            self.link_late(late).await?;
        }
        Ok(())
    }

    /// Pairs customers with the existing records their create collided with, and syncs them
    /// as pairs seen for the first time.
    pub(super) async fn link_late(&mut self, late: Vec<(usize, CrmId)>) -> Result<(), EngineError> {
        let ids: Vec<CrmId> = late.iter().map(|(_, id)| id.clone()).collect();
        let found = self
            .engine
            .crm
            .read(&ids, self.engine.mapping.crm_properties())
            .await?;
        let mut work = Vec::new();
        for ((c, id), record) in late.into_iter().zip(found) {
            let customer = &self.sides.customers[c];
            let Some(record) = record else {
                let message = format!("record {id} vanished while linking");
                self.fail_customer(customer, &message, &message).await?;
                self.summary.to_crm.failed += 1;
                continue;
            };
            let times = ChangeTimes {
                hub: None,
                crm: record.updated_at,
            };
            let mut plan = plan_pair(
                &self.engine.mapping,
                customer,
                &record,
                None,
                times,
                self.now,
            );
            restrict(&mut plan, self.direction, None);
            self.summary.to_crm.linked += 1;
            self.summary.to_hub.linked += 1;
            work.push(PairWork {
                customer: c,
                record: id,
                found: Found::Matched,
                plan,
            });
        }
        self.write_pairs(work).await
    }

    /// Writes a failure into the dead letters (`error`, in full) and the customer's status
    /// (`status_message`: the same each time the failure repeats, so it is written once).
    pub(super) async fn fail_customer(
        &mut self,
        customer: &Customer,
        error: &str,
        status_message: &str,
    ) -> Result<(), EngineError> {
        warn!(customer = %customer.resource_uri, %error, "Could not create the CRM record.");
        let subject = Subject {
            hub: Some(&customer.resource_uri),
            crm: None,
            name: &customer.name,
        };
        self.dead_letter(
            ObjectRef::hub(self.connector(), customer.resource_uri.as_str()),
            Direction::HubToCrm,
            subject,
            error,
        )
        .await?;
        if let (true, Some(status), Some(text)) = (
            self.direction.writes_hub(),
            self.engine.mapping.status(),
            self.error_status(status_message),
        ) {
            if customer.custom_fields.get(&status.hub_custom_field) != Some(&text) {
                let patch = CustomerPatch {
                    custom_fields: Some(BTreeMap::from([(status.hub_custom_field.clone(), text)])),
                    ..CustomerPatch::default()
                };
                let uri = CustomerUri(customer.resource_uri.clone());
                if let Err(error) = self.engine.tte.patch(&uri, &patch).await {
                    warn!(customer = %uri, %error, "Could not write the error status.");
                }
            }
        }
        Ok(())
    }
}
