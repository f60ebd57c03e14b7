//! Sending CRM writes as the connector declares it can take them: the writes are split into
//! calls by [`WriteAbilities::plan_calls`](crate::connector::WriteAbilities::plan_calls) and
//! up to `in_flight` calls run at once. Outcomes come back in the order of the writes.

use futures_util::{StreamExt, stream};

use super::systemic::crm_error;
use super::{Engine, EngineError};
use crate::connector::{ConnectorError, CrmWrite, WriteOutcome};

/// Records planned and written per round (one turn at the sync lock, one save of links) when
/// the connector's calls in flight take fewer.
pub const MIN_ROUND: usize = 100;

impl Engine {
    /// Records per round: enough to fill every call the connector may have in flight.
    pub(crate) fn round(&self) -> usize {
        self.crm.write_abilities().round(MIN_ROUND)
    }

    /// Writes to the CRM in the calls its abilities allow; one outcome per write, in order.
    ///
    /// # Errors
    /// When a call failed as a whole (the CRM unreachable, or refusing the credentials: a
    /// systemic cause is [`EngineError::Systemic`], a passing one [`EngineError::Stalled`]), or
    /// a connector answered a call with a different number of outcomes than it was sent.
    pub(crate) async fn write_crm(
        &self,
        mut writes: Vec<CrmWrite>,
    ) -> Result<Vec<WriteOutcome>, EngineError> {
        let abilities = self.crm.write_abilities();
        let calls = abilities.plan_calls(&writes);
        let mut batches = Vec::with_capacity(calls.len());
        for call in calls.iter().rev() {
            batches.push(writes.split_off(call.start));
        }
        batches.reverse();
        let crm = &self.crm;
        let answers: Vec<_> = stream::iter(batches)
            .map(|batch| async move {
                let sent = batch.len();
                let outcomes = crm.write(batch).await?;
                if outcomes.len() != sent {
                    return Err(ConnectorError::permanent(format!(
                        "the {} connector answered {} outcomes for {sent} writes; it must \
                         answer each write once, in order (a fault of the connector)",
                        crm.name(),
                        outcomes.len()
                    )));
                }
                Ok(outcomes)
            })
            .buffered(abilities.in_flight.max(1))
            .collect()
            .await;
        let mut outcomes = Vec::new();
        for answer in answers {
            outcomes.extend(answer.map_err(crm_error)?);
        }
        Ok(outcomes)
    }
}
