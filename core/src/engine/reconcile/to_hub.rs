//! Creating 10to8 customers for CRM records that have none, and running 10to8 writes a few at
//! a time (10to8 has no batch API).

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, stream};
use tracing::{debug, warn};

use super::HUB_CONCURRENCY;
use super::pass::Pass;
use crate::connector::{CrmWrite, ErrorKind, WriteOutcome};
use crate::engine::journal::Subject;
use crate::engine::plan::snapshots_of;
use crate::engine::systemic::hub_error;
use crate::engine::{EngineError, Stalled};
use crate::record::{CrmId, Customer, CustomerUri, Properties};
use crate::store::{Action, Direction, ObjectRef, Snapshot};
use crate::tte::{CustomerPatch, CustomerWrite, DeleteOutcome, TteError};

/// One 10to8 write in flight.
pub(super) enum HubJob {
    Patch {
        uri: CustomerUri,
        patch: CustomerPatch,
    },
    Create {
        record: CrmId,
        write: CustomerWrite,
    },
    Delete {
        uri: CustomerUri,
        force: bool,
    },
}

/// How a 10to8 write went.
pub(super) enum HubDone {
    Patched,
    Created(Customer),
    Deleted,
    Blocked(String),
    Gone,
    Failed(String),
    /// A create 10to8 answered with a passing failure: it may have made the customer.
    Unanswered,
}

/// Rounds of looking for unanswered creates and sending the rest again before a pass stops.
const UNANSWERED_CREATE_ROUNDS: usize = 10;

impl Pass<'_> {
    /// Creates customers for records without one. The intent is recorded first, and each
    /// new customer carries the record's id in its External ID, so a pass rerun after a crash
    /// pairs it by the id fields instead of creating it again. A create 10to8 answered with a
    /// passing failure may or may not have made the customer: those are looked for in 10to8's
    /// list (by their External ID) and only the ones not found are sent again.
    pub(super) async fn create_in_hub(&mut self, ids: &[CrmId]) -> Result<(), EngineError> {
        let mut unsettled = Vec::new();
        for chunk in ids.chunks(self.engine.round()) {
            self.engine
                .store
                .record_pending_creates(self.connector(), chunk)
                .await?;
            let jobs = chunk.iter().map(|id| self.create_job(id)).collect();
            let results = self.run_hub_jobs(jobs).await?;
            unsettled.extend(self.record_hub_creates(chunk, results).await?);
        }
        self.settle_unanswered_creates(unsettled).await
    }

    /// The 10to8 create for record `id`.
    fn create_job(&self, id: &CrmId) -> HubJob {
        let out = self
            .engine
            .mapping
            .to_hub(&self.sides.records[id], None, self.now);
        HubJob::Create {
            record: id.clone(),
            write: CustomerWrite {
                name: out.name.unwrap_or_default(),
                emails: out.emails.unwrap_or_default(),
                numbers: out.numbers.unwrap_or_default(),
                custom_fields: out.custom_fields,
            },
        }
    }

    /// Settles creates whose answer was lost: each round lists 10to8's customers once, links
    /// the records a customer names in its External ID, and sends the rest again. Gives up
    /// (a stall: nothing recorded, resumable) after [`UNANSWERED_CREATE_ROUNDS`].
    ///
    /// # Errors
    /// When 10to8 cannot be listed, or the rounds run out.
    async fn settle_unanswered_creates(
        &mut self,
        mut unsettled: Vec<CrmId>,
    ) -> Result<(), EngineError> {
        let mut rounds = 0;
        while !unsettled.is_empty() {
            let mut made = self.customers_naming(&unsettled).await?;
            let (found, again): (Vec<CrmId>, Vec<CrmId>) =
                unsettled.into_iter().partition(|id| made.contains_key(id));
            debug!(
                found = found.len(),
                again = again.len(),
                "Creates without an answer looked for in 10to8."
            );
            let results = (found.iter())
                .map(|id| HubDone::Created(made.remove(id).expect("partitioned by it")))
                .collect();
            self.record_hub_creates(&found, results).await?;
            if again.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > UNANSWERED_CREATE_ROUNDS {
                let message = format!(
                    "{} creates of 10to8 customers went unanswered {UNANSWERED_CREATE_ROUNDS} times",
                    again.len()
                );
                let stalled = Stalled::of(crate::tte::API_NAME, &ErrorKind::Transient, message)
                    .expect("a transient failure is a passing one");
                return Err(EngineError::Stalled(stalled));
            }
            let jobs = again.iter().map(|id| self.create_job(id)).collect();
            let results = self.run_hub_jobs(jobs).await?;
            unsettled = self.record_hub_creates(&again, results).await?;
        }
        Ok(())
    }

    /// The customers, read from 10to8's list, whose External ID names one of `ids`.
    async fn customers_naming(
        &self,
        ids: &[CrmId],
    ) -> Result<HashMap<CrmId, Customer>, EngineError> {
        let identity = self.engine.mapping.identity();
        let wanted: HashSet<&str> = ids.iter().map(CrmId::as_str).collect();
        let mut found = HashMap::new();
        let mut pages = self.engine.tte.list(false);
        while let Some(page) = pages.next().await {
            for customer in page? {
                let named: Vec<CrmId> = (identity.named_crm_ids(&customer))
                    .filter(|id| wanted.contains(id))
                    .map(CrmId::from)
                    .collect();
                for id in named {
                    found.entry(id).or_insert_with(|| customer.clone());
                }
            }
        }
        Ok(found)
    }

    /// Records how a chunk of creates went: links, statuses and dead letters; returns the
    /// records whose create went unanswered (their intent kept).
    async fn record_hub_creates(
        &mut self,
        chunk: &[CrmId],
        results: Vec<HubDone>,
    ) -> Result<Vec<CrmId>, EngineError> {
        let identity = self.engine.mapping.identity().clone();
        let mut unanswered = Vec::new();
        let mut writes = Vec::new();
        let mut made = Vec::new();
        for (id, done) in chunk.iter().zip(results) {
            match done {
                HubDone::Created(customer) => {
                    self.summary.to_hub.created += 1;
                    let record = &self.sides.records[id];
                    let out = self.engine.mapping.to_crm(&customer, self.now);
                    let mut properties = Properties::from([(
                        identity.hub_id_property.clone(),
                        customer.resource_uri.clone().into(),
                    )]);
                    if let Some(status) = self.engine.mapping.status() {
                        properties.insert(
                            status.crm_property.clone(),
                            status.text(&out.errors, self.now).into(),
                        );
                    }
                    let mut after = record.clone();
                    after.properties.extend(properties.clone());
                    let (hub, crm) = snapshots_of(&self.engine.mapping, &customer, &after);
                    writes.push(CrmWrite::Update {
                        id: id.clone(),
                        properties,
                    });
                    made.push((
                        customer.resource_uri.clone(),
                        id.clone(),
                        hub,
                        crm,
                        customer.name,
                        out.errors,
                    ));
                }
                HubDone::Failed(error) => {
                    warn!(record = %id, %error, "Could not create the 10to8 customer.");
                    self.summary.to_hub.failed += 1;
                    let name = self.record_name(id);
                    let subject = Subject {
                        hub: None,
                        crm: Some(id),
                        name: &name,
                    };
                    self.dead_letter(
                        ObjectRef::crm(self.connector(), id.as_str()),
                        Direction::CrmToHub,
                        subject,
                        &error,
                    )
                    .await?;
                    self.engine
                        .store
                        .resolve_pending_creates(self.connector(), std::slice::from_ref(id))
                        .await?;
                    if let (Some(status), Some(text)) =
                        (self.engine.mapping.status(), self.error_status(&error))
                    {
                        if self.direction.writes_crm()
                            && self.sides.records[id].property(&status.crm_property) != text
                        {
                            writes.push(CrmWrite::Update {
                                id: id.clone(),
                                properties: Properties::from([(
                                    status.crm_property.clone(),
                                    text.into(),
                                )]),
                            });
                            made.push((
                                String::new(),
                                id.clone(),
                                Snapshot::new(),
                                Snapshot::new(),
                                name,
                                Vec::new(),
                            ));
                        }
                    }
                }
                HubDone::Unanswered => unanswered.push(id.clone()),
                _ => {}
            }
        }
        let outcomes = if writes.is_empty() || !self.direction.writes_crm() {
            Vec::new()
        } else {
            self.write_crm(writes).await?
        };
        let mut resolved = Vec::new();
        for (n, (uri, id, hub, crm, name, errors)) in made.into_iter().enumerate() {
            self.advance(1);
            if uri.is_empty() {
                continue;
            }
            let subject = Subject {
                hub: Some(&uri),
                crm: Some(&id),
                name: &name,
            };
            if let Some(WriteOutcome::Failed(error)) = outcomes.get(n) {
                // The customer exists and names the record; the next pass pairs them.
                self.summary.to_crm.failed += 1;
                self.dead_letter(
                    ObjectRef::crm(self.connector(), id.as_str()),
                    Direction::HubToCrm,
                    subject,
                    &error.to_string(),
                )
                .await?;
                continue;
            }
            self.journal.written(
                Direction::CrmToHub,
                Action::Created,
                subject,
                String::new(),
                &errors,
            );
            if self.direction.writes_crm() {
                self.summary.to_crm.updated += 1;
            }
            let link = self.link(&uri, &id, hub, crm);
            self.push_link(link).await?;
            resolved.push(id);
        }
        self.flush_links().await?;
        self.engine
            .store
            .resolve_pending_creates(self.connector(), &resolved)
            .await?;
        Ok(unanswered)
    }

    /// Runs 10to8 writes [`HUB_CONCURRENCY`] at a time; results in the order given.
    ///
    /// # Errors
    /// When a write failed for a passing cause (10to8 throttled or was down for longer than
    /// the stall budget) or a systemic one (the key refused, or one refusal repeated record
    /// after record, see `systemic`): that is no fault of the records, so nothing is recorded
    /// against them and the pass stops, to resume when run again (after the fix).
    pub(super) async fn run_hub_jobs(
        &mut self,
        jobs: Vec<HubJob>,
    ) -> Result<Vec<HubDone>, EngineError> {
        let tte = &self.engine.tte;
        let failed = |error: TteError| {
            if error.kind().is_retryable() || error.kind().is_systemic() {
                Err(error)
            } else {
                Ok(HubDone::Failed(error.to_string()))
            }
        };
        let results: Vec<Result<HubDone, TteError>> = stream::iter(jobs)
            .map(|job| async move {
                match job {
                    HubJob::Patch { uri, patch } => {
                        if uri.as_str().is_empty() || patch.is_empty() {
                            return Ok(HubDone::Patched);
                        }
                        match tte.patch(&uri, &patch).await {
                            Ok(_) => Ok(HubDone::Patched),
                            Err(e) if *e.kind() == ErrorKind::NotFound => Ok(HubDone::Gone),
                            Err(e) => failed(e),
                        }
                    }
                    HubJob::Create { record, write } => match tte.create(&write).await {
                        Ok(customer) => Ok(HubDone::Created(customer)),
                        // 10to8 may have acted on it (the client resends a create only when
                        // surely not): the customer is looked for before it is sent again.
                        Err(e) if *e.kind() == ErrorKind::Transient => {
                            debug!(%record, error = %e, "10to8 create went unanswered.");
                            Ok(HubDone::Unanswered)
                        }
                        Err(e) => {
                            debug!(%record, error = %e, "10to8 create failed.");
                            failed(e)
                        }
                    },
                    HubJob::Delete { uri, force } => match tte.delete(&uri, force).await {
                        Ok(DeleteOutcome::Deleted) => Ok(HubDone::Deleted),
                        Ok(DeleteOutcome::AlreadyDeleted) => Ok(HubDone::Gone),
                        Ok(DeleteOutcome::Blocked { message, .. }) => Ok(HubDone::Blocked(message)),
                        Err(e) => failed(e),
                    },
                }
            })
            .buffered(HUB_CONCURRENCY)
            .collect()
            .await;
        let done: Vec<HubDone> = results
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(hub_error)?;
        for result in &done {
            match result {
                HubDone::Failed(error) => self.hub_causes.judge_hub(Some(error))?,
                HubDone::Blocked(_) | HubDone::Gone => {}
                _ => self.hub_causes.judge_hub(None)?,
            }
        }
        Ok(done)
    }
}
