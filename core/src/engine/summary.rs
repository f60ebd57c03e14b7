//! What a sync did (or, on a dry run, would do), per direction, for people and for JSON.

use std::fmt;

use serde::Serialize;

use super::pair::Ambiguity;
use super::plan::FieldDecision;

/// Counts for one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Records created on this side.
    pub created: u64,
    /// Records written on this side (fields, or status and ids).
    pub updated: u64,
    /// Pairs linked for the first time (by ids or the match rule); counted on both sides.
    pub linked: u64,
    /// Linked records this side needed no write for.
    pub unchanged: u64,
    /// Pairs with a field changed on both sides whose value was copied to this side.
    pub conflicts: u64,
    /// Writes to this side that failed.
    pub failed: u64,
    /// Records deleted (10to8) or archived (CRM) on this side.
    pub deleted: u64,
}

impl Counts {
    /// Writes made (or planned) on this side.
    pub fn writes(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// One planned action, for `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Planned {
    /// Create a CRM record for a customer.
    CreateInCrm {
        /// The customer.
        customer: String,
    },
    /// Create a customer for a CRM record.
    CreateInHub {
        /// The record.
        record: String,
    },
    /// Link a pair found by ids or the match rule.
    Link {
        /// The customer.
        customer: String,
        /// The record.
        record: String,
        /// How it was found (`id_field`, `matched`).
        found: String,
    },
    /// Update one or both sides of a pair.
    Update {
        /// The customer.
        customer: String,
        /// The record.
        record: String,
        /// The fields copied, and which way.
        fields: Vec<FieldDecision>,
        /// Whether the CRM record is written.
        crm: bool,
        /// Whether the customer is written.
        hub: bool,
    },
    /// Archive a record whose customer was deleted.
    Archive {
        /// The record.
        record: String,
    },
    /// Delete a customer whose record was archived.
    Delete {
        /// The customer.
        customer: String,
    },
}

/// What a full sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// Towards the CRM.
    pub to_crm: Counts,
    /// Towards 10to8.
    pub to_hub: Counts,
    /// Possible duplicates: customers and records that fit each other but not one to one,
    /// neither linked nor created until a person resolves them.
    pub ambiguous: Vec<Ambiguity>,
    /// Deletes refused because the customer has future bookings.
    pub delete_blocked: u64,
    /// The planned actions (on a dry run only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<Planned>,
}

impl Summary {
    /// Whether any write failed.
    pub fn has_failures(&self) -> bool {
        self.to_crm.failed + self.to_hub.failed > 0
    }

    /// Every write made (or planned) on both sides.
    pub fn writes(&self) -> u64 {
        self.to_crm.writes() + self.to_hub.writes()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "Dry run: nothing was written. The plan:")?;
            for planned in &self.plan {
                writeln!(f, "  {}", describe(planned))?;
            }
        }
        writeln!(
            f,
            "{:<12} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>8}",
            "direction",
            "created",
            "updated",
            "linked",
            "unchanged",
            "conflicts",
            "failed",
            "deleted"
        )?;
        for (name, c) in [("10to8 -> CRM", self.to_crm), ("CRM -> 10to8", self.to_hub)] {
            writeln!(
                f,
                "{name:<12} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>8}",
                c.created, c.updated, c.linked, c.unchanged, c.conflicts, c.failed, c.deleted
            )?;
        }
        if !self.ambiguous.is_empty() {
            writeln!(
                f,
                "{} possible duplicates, neither linked nor created; link the right pair with \
                 `tte-sync link <10to8 uri> <crm id>`, or keep two apart with `tte-sync unlink`:",
                self.ambiguous.len()
            )?;
        }
        for a in &self.ambiguous {
            let mut who: Vec<String> = a.customers.iter().map(|c| format!("10to8 {c}")).collect();
            who.extend(a.records.iter().map(|r| format!("CRM {r}")));
            writeln!(f, "  ambiguous (same {}): {}", a.rule, who.join(", "))?;
        }
        if self.delete_blocked > 0 {
            writeln!(
                f,
                "{} deletes blocked by future bookings (see the status fields)",
                self.delete_blocked
            )?;
        }
        Ok(())
    }
}

fn describe(planned: &Planned) -> String {
    match planned {
        Planned::CreateInCrm { customer } => format!("create in CRM for {customer}"),
        Planned::CreateInHub { record } => format!("create in 10to8 for record {record}"),
        Planned::Link {
            customer,
            record,
            found,
        } => format!("link {customer} <-> {record} ({found})"),
        Planned::Update {
            customer,
            record,
            fields,
            crm,
            hub,
        } => {
            let moved: Vec<String> = fields
                .iter()
                .map(|d| {
                    let arrow = match d.flow {
                        super::plan::Flow::ToCrm => "->",
                        super::plan::Flow::ToHub => "<-",
                    };
                    let conflict = if d.conflict { " (conflict)" } else { "" };
                    format!("{}{arrow}{conflict}", d.key)
                })
                .collect();
            let sides = match (crm, hub) {
                (true, true) => "both",
                (true, false) => "CRM",
                _ => "10to8",
            };
            format!(
                "update {customer} <-> {record} [{sides}] {}",
                if moved.is_empty() {
                    "status/ids".to_owned()
                } else {
                    moved.join(", ")
                }
            )
        }
        Planned::Archive { record } => format!("archive record {record}"),
        Planned::Delete { customer } => format!("delete {customer}"),
    }
}
