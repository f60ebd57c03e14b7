//! What a connector's writes can do, as data the engine plans from: how many writes of each
//! kind one call takes, whether the CRM creates-or-updates by a unique property on its own,
//! how many calls may be in flight at once, and whether the CRM applies one call's writes in
//! order. [`WriteAbilities::plan_calls`] splits a list of writes into the calls to make.

use std::collections::HashSet;
use std::ops::Range;

use super::CrmWrite;

/// A connector's write abilities, returned by
/// [`CrmConnector::write_abilities`](super::CrmConnector::write_abilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteAbilities {
    /// Creates (and upserts) per call, at least 1.
    pub create_batch: usize,
    /// Updates per call, at least 1.
    pub update_batch: usize,
    /// Archives per call, at least 1.
    pub archive_batch: usize,
    /// How the CRM creates a record without making a second one when a create is repeated.
    pub upsert: Upsert,
    /// Calls the engine may have in flight at once, at least 1. The connector still keeps
    /// within the CRM's rate limits itself.
    pub in_flight: usize,
    /// Whether the CRM applies the writes of one call in the order given. When it does not,
    /// the engine never puts two writes of one record into the same call.
    pub ordered_within_call: bool,
    /// Whether the CRM keeps emails unique: it refuses a create whose email another record
    /// holds, naming that record. A live batch then lets such a create link the two; on a CRM
    /// that does not, it first looks the customer up with
    /// [`CrmConnector::find`](super::CrmConnector::find).
    pub unique_emails: bool,
}

/// Whether a CRM upserts by a unique property on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upsert {
    /// The CRM takes [`CrmWrite::Upsert`] keyed by a property with unique values (the
    /// mapping's `hub_id_in_crm`): repeating one never makes a second record.
    Native,
    /// The CRM only creates ([`CrmWrite::Create`]). The engine records each create's intent
    /// first and writes the customer's URI into the id property, so after a crash the record
    /// is found again by that property instead of being created twice.
    CreateOnly,
}

impl WriteAbilities {
    /// One write per call, no native upsert, `in_flight` calls at once, order kept (a call
    /// holds one write).
    pub fn one_at_a_time(in_flight: usize) -> Self {
        Self {
            create_batch: 1,
            update_batch: 1,
            archive_batch: 1,
            upsert: Upsert::CreateOnly,
            in_flight: in_flight.max(1),
            ordered_within_call: true,
            unique_emails: false,
        }
    }

    /// Batches of `size` for every kind of write, native upsert, one call at a time.
    pub fn batched_upserts(size: usize) -> Self {
        let size = size.max(1);
        Self {
            create_batch: size,
            update_batch: size,
            archive_batch: size,
            upsert: Upsert::Native,
            in_flight: 1,
            ordered_within_call: true,
            unique_emails: false,
        }
    }

    /// The same abilities with these writes per call (each at least 1).
    #[must_use]
    pub fn with_batches(mut self, create: usize, update: usize, archive: usize) -> Self {
        self.create_batch = create.max(1);
        self.update_batch = update.max(1);
        self.archive_batch = archive.max(1);
        self
    }

    /// The same abilities with `in_flight` calls at once.
    #[must_use]
    pub fn with_in_flight(mut self, in_flight: usize) -> Self {
        self.in_flight = in_flight.max(1);
        self
    }

    /// The same abilities with order within a call kept or not.
    #[must_use]
    pub fn with_ordered_within_call(mut self, ordered: bool) -> Self {
        self.ordered_within_call = ordered;
        self
    }

    /// The same abilities, the CRM keeping emails unique or not.
    #[must_use]
    pub fn with_unique_emails(mut self, unique: bool) -> Self {
        self.unique_emails = unique;
        self
    }

    /// Whether the CRM upserts natively.
    pub fn upserts(&self) -> bool {
        self.upsert == Upsert::Native
    }

    /// Writes of this kind per call (at least 1).
    pub fn batch_for(&self, write: &CrmWrite) -> usize {
        let size = match write {
            CrmWrite::Upsert { .. } | CrmWrite::Create { .. } => self.create_batch,
            CrmWrite::Update { .. } => self.update_batch,
            CrmWrite::Archive { .. } => self.archive_batch,
        };
        size.max(1)
    }

    /// How many records the engine takes per round so that a round fills every call it may
    /// have in flight: at least `minimum`.
    pub fn round(&self, minimum: usize) -> usize {
        let largest = (self.create_batch)
            .max(self.update_batch)
            .max(self.archive_batch)
            .max(1);
        (largest * self.in_flight.max(1)).max(minimum)
    }

    /// Splits `writes` into the calls to make, in order: each call holds writes of one kind,
    /// at most that kind's batch size, and (unless the CRM keeps order within a call) no two
    /// writes of the same record.
    pub fn plan_calls(&self, writes: &[CrmWrite]) -> Vec<Range<usize>> {
        let mut calls = Vec::new();
        let mut start = 0;
        let mut keys: HashSet<&str> = HashSet::new();
        for (n, write) in writes.iter().enumerate() {
            if n > start {
                let first = &writes[start];
                let full = n - start >= self.batch_for(first);
                let other_kind = std::mem::discriminant(first) != std::mem::discriminant(write);
                let repeated = !self.ordered_within_call && keys.contains(write.record_key());
                if full || other_kind || repeated {
                    calls.push(start..n);
                    start = n;
                    keys.clear();
                }
            }
            keys.insert(write.record_key());
        }
        if start < writes.len() {
            calls.push(start..writes.len());
        }
        calls
    }
}

impl CrmWrite {
    /// What names the record this write is for: its id, or the key it is created under.
    pub fn record_key(&self) -> &str {
        match self {
            Self::Upsert { key, .. } | Self::Create { key, .. } => key,
            Self::Update { id, .. } | Self::Archive { id } => id.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::record::CrmId;

    fn update(id: &str) -> CrmWrite {
        CrmWrite::Update {
            id: CrmId::from(id),
            properties: BTreeMap::new(),
        }
    }

    fn archive(id: &str) -> CrmWrite {
        CrmWrite::Archive {
            id: CrmId::from(id),
        }
    }

    #[test]
    fn calls_hold_one_kind_and_at_most_its_batch() {
        let abilities = WriteAbilities::batched_upserts(100).with_batches(100, 2, 3);
        let writes = [
            update("1"),
            update("2"),
            update("3"),
            archive("4"),
            archive("5"),
            update("6"),
        ];
        assert_eq!(abilities.plan_calls(&writes), vec![0..2, 2..3, 3..5, 5..6]);
    }

    #[test]
    fn a_record_written_twice_splits_the_call_only_when_order_is_not_kept() {
        let writes = [update("1"), update("2"), update("1")];
        let ordered = WriteAbilities::batched_upserts(10);
        assert_eq!(ordered.plan_calls(&writes), vec![0..3]);
        let unordered = ordered.with_ordered_within_call(false);
        assert_eq!(unordered.plan_calls(&writes), vec![0..2, 2..3]);
    }

    #[test]
    fn a_round_fills_every_call_in_flight() {
        assert_eq!(WriteAbilities::batched_upserts(100).round(100), 100);
        assert_eq!(WriteAbilities::one_at_a_time(4).round(100), 100);
        assert_eq!(
            WriteAbilities::batched_upserts(100)
                .with_in_flight(3)
                .round(100),
            300
        );
    }

    proptest! {
        #[test]
        fn every_write_is_in_exactly_one_call_in_order(
            kinds in proptest::collection::vec((0u8..2, 0u8..6), 0..60),
            create_batch in 1usize..5,
            update_batch in 1usize..5,
            archive_batch in 1usize..5,
            ordered in any::<bool>(),
        ) {
            let writes: Vec<CrmWrite> = kinds
                .iter()
                .map(|&(kind, id)| if kind == 0 { update(&id.to_string()) } else { archive(&id.to_string()) })
                .collect();
            let abilities = WriteAbilities::one_at_a_time(1)
                .with_batches(create_batch, update_batch, archive_batch)
                .with_ordered_within_call(ordered);
            let calls = abilities.plan_calls(&writes);
            let mut next = 0;
            for call in &calls {
                prop_assert_eq!(call.start, next);
                prop_assert!(!call.is_empty());
                prop_assert!(call.len() <= abilities.batch_for(&writes[call.start]));
                let slice = &writes[call.clone()];
                let first = std::mem::discriminant(&slice[0]);
                prop_assert!(slice.iter().all(|w| std::mem::discriminant(w) == first));
                if !ordered {
                    let keys: HashSet<&str> = slice.iter().map(CrmWrite::record_key).collect();
                    prop_assert_eq!(keys.len(), slice.len());
                }
                next = call.end;
            }
            prop_assert_eq!(next, writes.len());
        }
    }
}
