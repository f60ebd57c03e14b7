//! Possible duplicates: what their status fields say while they wait for a person.

use std::collections::BTreeMap;

use tracing::warn;

use super::pass::Pass;
use super::to_hub::{HubDone, HubJob};
use crate::connector::{CrmWrite, WriteOutcome};
use crate::engine::EngineError;
use crate::engine::journal::Subject;
use crate::engine::pair::Held;
use crate::record::CustomerUri;
use crate::tte::CustomerPatch;

impl Pass<'_> {
    /// What the status fields of a possible duplicate say.
    pub(super) fn possible_duplicate_text(&self, held: &Held) -> String {
        const SHOWN: usize = 3;
        let mut others: Vec<String> = held
            .customers
            .iter()
            .map(|&c| format!("10to8 customer {}", self.sides.customers[c].resource_uri))
            .collect();
        others.extend(
            held.records
                .iter()
                .map(|r| format!("{} record {r}", self.connector())),
        );
        let more = others.len().saturating_sub(SHOWN);
        others.truncate(SHOWN);
        let mut list = others.join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        format!(
            "Possible duplicate of {list} (same {}); not synced until resolved with `tte-sync link` or `tte-sync unlink`",
            held.rule
        )
    }

    /// Says in the status fields, and on the dashboard, that these objects wait for a person.
    pub(super) async fn hold(&mut self, held: &[Held]) -> Result<(), EngineError> {
        let sides = self.sides;
        let status = self.engine.mapping.status();
        let mut crm_writes = Vec::new();
        let mut jobs = Vec::new();
        for h in held {
            let text = self.possible_duplicate_text(h);
            if let Some(c) = h.customer {
                let customer = &sides.customers[c];
                let subject = Subject {
                    hub: Some(&customer.resource_uri),
                    crm: None,
                    name: &customer.name,
                };
                self.journal.held(subject, &text);
                if let Some(status) = status.filter(|_| self.direction.writes_hub())
                    && customer.custom_fields.get(&status.hub_custom_field) != Some(&text)
                {
                    jobs.push(HubJob::Patch {
                        uri: CustomerUri(customer.resource_uri.clone()),
                        patch: CustomerPatch {
                            custom_fields: Some(BTreeMap::from([(
                                status.hub_custom_field.clone(),
                                text.clone(),
                            )])),
                            ..CustomerPatch::default()
                        },
                    });
                }
            } else if let Some(id) = &h.record {
                let name = self.record_name(id);
                let subject = Subject {
                    hub: None,
                    crm: Some(id),
                    name: &name,
                };
                self.journal.held(subject, &text);
                if let Some(status) = status.filter(|_| self.direction.writes_crm())
                    && sides.records[id].property(&status.crm_property) != text
                {
                    crm_writes.push(CrmWrite::Update {
                        id: id.clone(),
                        properties: BTreeMap::from([(status.crm_property.clone(), text.into())]),
                    });
                }
            }
        }
        for chunk in crm_writes.chunks(self.engine.round()) {
            for outcome in self.write_crm(chunk.to_vec()).await? {
                if let WriteOutcome::Failed(error) = outcome {
                    warn!(%error, "Could not write the possible-duplicate status.");
                }
            }
        }
        for done in self.run_hub_jobs(jobs).await? {
            if let HubDone::Failed(error) = done {
                warn!(%error, "Could not write the possible-duplicate status.");
            }
        }
        self.flush_links().await
    }
}
