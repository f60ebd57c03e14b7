//! Creating CRM records for customers that have none, and pairing the ones whose create
//! collided with a record that was there already.

use std::collections::{BTreeMap, HashMap, HashSet};

use tracing::{debug, warn};

use super::pass::{Pass, pair_subject};
use super::planning::{PairWork, restrict};
use super::to_hub::{HubDone, HubJob};
use crate::connector::{CrmWrite, ErrorKind, WriteOutcome};
use crate::engine::journal::Subject;
use crate::engine::pair::Found;
use crate::engine::plan::{ChangeTimes, apply_patch, plan_pair, snapshots_of};
use crate::engine::{EngineError, StallCause};
use crate::record::{CrmId, CrmRecord, Customer, CustomerUri};
use crate::store::{Action, Direction, ObjectRef};
use crate::tte::CustomerPatch;

impl Pass<'_> {
    /// Creates CRM records for customers without one, then writes the new id (and status)
    /// back to 10to8. Where the CRM upserts natively the creates are upserts keyed by the
    /// customer's URI; else each create's intent is recorded first, and a customer whose
    /// earlier create may have reached the CRM is looked up by its URI before it is created.
    pub(super) async fn create_in_crm(&mut self, customers: &[usize]) -> Result<(), EngineError> {
        let sides = self.sides;
        let identity = self.engine.mapping.identity().clone();
        let native = self.engine.crm.write_abilities().upserts();
        let mut late: Vec<(usize, CrmId)> = Vec::new();
        let mut linked_ids: HashSet<CrmId> = self
            .sides
            .links
            .values()
            .map(|l| l.crm_id.clone())
            .collect();
        for chunk in customers.chunks(self.engine.round()) {
            let chunk = if native {
                chunk.to_vec()
            } else {
                self.find_pending(chunk, &mut late, &mut linked_ids).await?
            };
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
                .map(|(&c, out)| {
                    let id_property = identity.hub_id_property.clone();
                    let key = self.sides.customers[c].resource_uri.clone();
                    let properties = out.properties.clone();
                    if native {
                        CrmWrite::Upsert {
                            id_property,
                            key,
                            properties,
                        }
                    } else {
                        CrmWrite::Create {
                            id_property,
                            key,
                            properties,
                        }
                    }
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
            let mut stalled = None;
            let mut jobs = Vec::new();
            let mut made = Vec::new();
            let mut settled: Vec<CustomerUri> = Vec::new();
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
                        // Throttled or down beyond the stall budget: no fault of the record;
                        // the pass stops once the creates that went through are linked.
                        _ if StallCause::of(error.kind()).is_some() => {
                            stalled.get_or_insert(error);
                        }
                        _ => {
                            self.fail_customer(customer, &error.to_string(), error.message())
                                .await?;
                            self.summary.to_crm.failed += 1;
                            settled.push(CustomerUri(customer.resource_uri.clone()));
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
                settled.push(CustomerUri(uri));
            }
            if !native {
                self.flush_links().await?;
                self.engine
                    .store
                    .resolve_pending_crm_creates(self.connector(), &settled)
                    .await?;
            }
            if let Some(error) = stalled {
                return Err(error.into());
            }
        }
        if !late.is_empty() {
            let uris: Vec<CustomerUri> = (late.iter())
                .map(|&(c, _)| CustomerUri(sides.customers[c].resource_uri.clone()))
                .collect();
            self.link_late(late).await?;
            if !native {
                self.resolve_linked_intents(&uris).await?;
            }
        }
        Ok(())
    }

    /// Resolves the CRM create intents of the customers among `uris` that are linked now (the
    /// others keep theirs, so a rerun looks for their record again before creating one).
    async fn resolve_linked_intents(&mut self, uris: &[CustomerUri]) -> Result<(), EngineError> {
        self.flush_links().await?;
        let store = &self.engine.store;
        let linked: Vec<CustomerUri> = (store.links_by_hub(self.connector(), uris).await?)
            .into_iter()
            .map(|l| l.hub_uri)
            .collect();
        store
            .resolve_pending_crm_creates(self.connector(), &linked)
            .await?;
        Ok(())
    }

    /// Where the CRM has no native upsert: takes out of `chunk` the customers whose create of
    /// an earlier run reached the CRM (found by their URI in the id property; they go to
    /// `late`), and records the intent to create the rest, which it returns.
    async fn find_pending(
        &mut self,
        chunk: &[usize],
        late: &mut Vec<(usize, CrmId)>,
        linked_ids: &mut HashSet<CrmId>,
    ) -> Result<Vec<usize>, EngineError> {
        let customers = &self.sides.customers;
        let uris: Vec<CustomerUri> = chunk
            .iter()
            .map(|&c| CustomerUri(customers[c].resource_uri.clone()))
            .collect();
        let store = &self.engine.store;
        let pending = store
            .pending_crm_creates_of(self.connector(), &uris)
            .await?;
        let mut found: HashMap<&str, CrmId> = HashMap::new();
        if !pending.is_empty() {
            let property = &self.engine.mapping.identity().hub_id_property;
            let values: Vec<String> = pending.iter().map(|u| u.0.clone()).collect();
            let records = (self.engine.crm)
                .find(property, &values, std::slice::from_ref(property))
                .await?;
            for record in records {
                if let Some(uri) = pending.iter().find(|u| record.property(property) == u.0) {
                    found.entry(uri.as_str()).or_insert(record.id);
                }
            }
        }
        let mut create = Vec::new();
        let mut intents = Vec::new();
        for (&c, uri) in chunk.iter().zip(uris) {
            match found.get(uri.as_str()) {
                Some(id) if !linked_ids.contains(id) => {
                    debug!(customer = %uri, record = %id, "An earlier create reached the CRM; linking to it.");
                    linked_ids.insert(id.clone());
                    late.push((c, id.clone()));
                }
                _ => {
                    create.push(c);
                    intents.push(uri);
                }
            }
        }
        store
            .record_pending_crm_creates(self.connector(), &intents)
            .await?;
        Ok(create)
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
