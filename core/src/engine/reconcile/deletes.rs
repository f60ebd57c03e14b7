//! The delete policies, applied to links whose other side is gone.

use std::collections::BTreeMap;

use tracing::{debug, warn};

use super::pass::Pass;
use super::to_hub::{HubDone, HubJob};
use crate::connector::{CrmWrite, ErrorKind, WriteOutcome};
use crate::engine::journal::Subject;
use crate::engine::pair::Pairing;
use crate::engine::{EngineError, StallCause};
use crate::mapping::{FromCrmDelete, FromHubDelete};
use crate::record::CustomerUri;
use crate::store::{Action, Direction, ObjectRef};
use crate::tte::CustomerPatch;

impl Pass<'_> {
    /// Applies the delete policies to links whose other side is gone.
    pub(super) async fn deletes(&mut self, pairing: &Pairing) -> Result<(), EngineError> {
        let policy = self.engine.mapping.deletes();
        for link in pairing.stale.iter().chain(&pairing.superseded) {
            self.unlink.push(link.hub_uri.clone());
        }
        // Customers deleted in 10to8: archive their records.
        let archive = policy.from_hub == FromHubDelete::Archive && self.direction.writes_crm();
        if archive && !pairing.hub_deleted.is_empty() {
            for chunk in pairing.hub_deleted.chunks(self.engine.round()) {
                let writes = chunk
                    .iter()
                    .map(|l| CrmWrite::Archive {
                        id: l.crm_id.clone(),
                    })
                    .collect();
                let outcomes = self.write_crm(writes).await?;
                let mut stalled = None;
                for (link, outcome) in chunk.iter().zip(outcomes) {
                    self.advance(1);
                    let name = self.record_name(&link.crm_id);
                    let subject = Subject {
                        hub: None,
                        crm: Some(&link.crm_id),
                        name: &name,
                    };
                    match outcome {
                        // Throttled or down beyond the stall budget: the link stays, and the
                        // next pass archives the record.
                        WriteOutcome::Failed(error) if StallCause::of(error.kind()).is_some() => {
                            stalled.get_or_insert(error);
                        }
                        WriteOutcome::Failed(error) if *error.kind() != ErrorKind::NotFound => {
                            self.summary.to_crm.failed += 1;
                            self.dead_letter(
                                ObjectRef::crm(self.connector(), link.crm_id.as_str()),
                                Direction::HubToCrm,
                                subject,
                                &error.to_string(),
                            )
                            .await?;
                        }
                        _ => {
                            self.summary.to_crm.deleted += 1;
                            let detail = format!("10to8 customer {} was deleted", link.hub_uri);
                            self.journal.written(
                                Direction::HubToCrm,
                                Action::Archived,
                                subject,
                                detail,
                                &[],
                            );
                            self.unlink.push(link.hub_uri.clone());
                        }
                    }
                }
                if let Some(error) = stalled {
                    return Err(error.into());
                }
            }
        } else if policy.from_hub == FromHubDelete::Ignore {
            for link in &pairing.hub_deleted {
                self.unlink.push(link.hub_uri.clone());
            }
        }

        // Records archived in the CRM: delete their customers, unless they have bookings.
        let force = match policy.from_crm {
            FromCrmDelete::Delete => true,
            FromCrmDelete::DeleteUnlessFutureBookings => false,
            _ => {
                for (link, _) in &pairing.crm_deleted {
                    self.unlink.push(link.hub_uri.clone());
                }
                return self.flush_links().await;
            }
        };
        if !self.direction.writes_hub() {
            return self.flush_links().await;
        }
        let mut deleted = Vec::new();
        for (link, c) in &pairing.crm_deleted {
            match &self.sides.archived {
                Some(archived) if !archived.contains(&link.crm_id) => {
                    debug!(record = %link.crm_id, customer = %link.hub_uri, "Linked record vanished (merged or erased); unlinking, not deleting.");
                    self.advance(1);
                    self.unlink.push(link.hub_uri.clone());
                }
                _ => deleted.push((link, *c)),
            }
        }
        let jobs = deleted
            .iter()
            .map(|(link, _)| HubJob::Delete {
                uri: link.hub_uri.clone(),
                force,
            })
            .collect();
        let results = self.run_hub_jobs(jobs).await?;
        let mut blocked = Vec::new();
        let sides = self.sides;
        for ((link, c), done) in deleted.into_iter().zip(results) {
            self.advance(1);
            let subject = Subject {
                hub: Some(link.hub_uri.as_str()),
                crm: Some(&link.crm_id),
                name: &sides.customers[c].name,
            };
            match done {
                HubDone::Deleted | HubDone::Gone => {
                    self.summary.to_hub.deleted += 1;
                    let detail = format!("CRM record {} was archived", link.crm_id);
                    self.journal.written(
                        Direction::CrmToHub,
                        Action::Deleted,
                        subject,
                        detail,
                        &[],
                    );
                    self.unlink.push(link.hub_uri.clone());
                }
                HubDone::Blocked(message) => {
                    // Kept linked: later passes try again until the bookings are gone.
                    self.summary.delete_blocked += 1;
                    self.journal.blocked(Direction::CrmToHub, subject, &message);
                    blocked.push((c, message));
                }
                HubDone::Failed(error) => {
                    self.summary.to_hub.failed += 1;
                    self.dead_letter(
                        ObjectRef::hub(self.connector(), link.hub_uri.as_str()),
                        Direction::CrmToHub,
                        subject,
                        &error,
                    )
                    .await?;
                }
                _ => {}
            }
        }
        let mut jobs = Vec::new();
        if let Some(status) = self.engine.mapping.status() {
            for (c, message) in blocked {
                let customer = &self.sides.customers[c];
                let text = format!("Error: {message}");
                if customer.custom_fields.get(&status.hub_custom_field) == Some(&text) {
                    continue;
                }
                jobs.push(HubJob::Patch {
                    uri: CustomerUri(customer.resource_uri.clone()),
                    patch: CustomerPatch {
                        custom_fields: Some(BTreeMap::from([(
                            status.hub_custom_field.clone(),
                            text,
                        )])),
                        ..CustomerPatch::default()
                    },
                });
            }
        }
        for done in self.run_hub_jobs(jobs).await? {
            if let HubDone::Failed(error) = done {
                warn!(%error, "Could not write the blocked-delete status.");
            }
        }
        self.flush_links().await
    }
}
